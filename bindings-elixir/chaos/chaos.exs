# Chaos run for the Elixir binding (the Mix project's compiled NIF), as
# tests/chaos/chaos_python.py: starts tests/chaos/proxy.mjs (which starts the reference
# server), sends N messages through the proxy with the Writer (default producer options),
# reads them back straight from the server, and runs a live reader through the same proxy
# that must see every message once, in order, through mid-stream cuts and stalls. Prints
# one `summary: chaos (elixir): ...` line; exits non-zero when a message was lost,
# duplicated or reordered, or the live reader met too few mid-stream faults.
#
#     cd bindings-elixir && MIX_ENV=test mix run chaos/chaos.exs
#     (DS_CHAOS_MESSAGES, default 20000; DS_CHAOS_SEED, default 1; DS_CHAOS_RATE, default 0.04)
alias DurableStreams.{Client, JSON, Reader, Stream, Writer}

defmodule Chaos do
  # {duplicates, lost, out of order} of the numbers seen, against 0..n-1.
  def tally(seen, n) do
    freq = Enum.frequencies(seen)
    stray = seen |> Enum.reject(&(is_integer(&1) and &1 >= 0 and &1 < n)) |> length()
    dups = Enum.sum(for {v, c} <- freq, is_integer(v) and v >= 0 and v < n, c > 1, do: c - 1) + stray
    lost = Enum.count(0..(n - 1)//1, &(not Map.has_key?(freq, &1)))
    ooo = seen |> Enum.chunk_every(2, 1, :discard) |> Enum.count(fn [a, b] -> b <= a end)
    {dups, lost, ooo}
  end

  def numbers(chunk), do: Enum.map(chunk.messages || [], & &1["n"])

  # Follows the stream live until n messages or the deadline; reports to parent.
  def follow(stream, n, parent) do
    {:ok, reader} = Reader.open(stream, offset: "-1", live: true)
    deadline = System.monotonic_time(:millisecond) + 240_000
    result = loop(reader, n, deadline, [], 0)
    send(parent, {:live, result})
  end

  defp loop(_reader, n, _deadline, acc, count) when count >= n, do: {:ok, Enum.reverse(acc)}

  defp loop(reader, n, deadline, acc, count) do
    left = deadline - System.monotonic_time(:millisecond)

    if left <= 0 do
      {:ok, Enum.reverse(acc)}
    else
      case Reader.next(reader, left) do
        {:ok, chunk} ->
          ns = numbers(chunk)
          loop(reader, n, deadline, Enum.reverse(ns, acc), count + length(ns))

        :timeout -> {:ok, Enum.reverse(acc)}
        :end -> {{:error, :ended}, Enum.reverse(acc)}
        {:error, e} -> {{:error, e}, Enum.reverse(acc)}
      end
    end
  end
end

env_num = fn name, default, parse -> parse.(System.get_env(name) || default) end
n = env_num.("DS_CHAOS_MESSAGES", "20000", &String.to_integer/1)
seed = env_num.("DS_CHAOS_SEED", "1", &String.to_integer/1)
rate_s = System.get_env("DS_CHAOS_RATE") || "0.04"
{burst, pause_ms} = {50, 20}
# Mid-stream faults the live reader must have met at the default rate (4%) or above in
# a run of at least 20,000 messages, so that it proves the reader survives them (as in core/tests/chaos.rs).
min_live_faults = 5

repo = Path.expand("../..", __DIR__)
proxy =
  Port.open({:spawn_executable, System.find_executable("node")}, [
    :binary,
    {:line, 65_536},
    args: [Path.join(repo, "tests/chaos/proxy.mjs"), "--seed", to_string(seed), "--rate", rate_s,
           "--stall-ms", "2500", "--max-seconds", "600"]
  ])

urls =
  receive do
    {^proxy, {:data, {:eol, line}}} -> JSON.decode!(line)
  after
    30_000 -> raise "chaos proxy did not start"
  end

{proxy_url, server_url} = {urls["proxy"], urls["server"]}
path = "/chaos/elixir-#{System.pid()}"
{:ok, _} = Client.new(server_url) |> Client.stream(path) |> Stream.create(content_type: "application/json")
direct = Client.new(server_url) |> Client.stream(path)
# Timeouts shorter than the proxy's 2.5 s stall; retries enough for a run of faults.
proxied = Client.new(proxy_url, request_timeout: 1_000, live_idle_timeout: 1_500, max_retries: 30)
live_stream = Client.stream(proxied, path)

parent = self()
{reader_pid, reader_ref} = spawn_monitor(fn -> Chaos.follow(live_stream, n, parent) end)

started = System.monotonic_time(:millisecond)
{:ok, writer} = Writer.start_link(stream: live_stream, producer_id: "chaos-elixir")

append_error =
  Enum.find_value(0..(n - 1)//1, fn i ->
    case Writer.append(writer, ~s({"n": #{i}})) do
      :ok ->
        # Bursts, else default batching makes one request.
        if rem(i, burst) == burst - 1, do: Process.sleep(pause_ms)
        nil

      err -> err
    end
  end)

flush_result = append_error || Writer.flush(writer)
close_result = Writer.close(writer)
elapsed = (System.monotonic_time(:millisecond) - started) / 1000

{:ok, chunks} = Stream.read_all(direct)
stored = Enum.flat_map(chunks, &Chaos.numbers/1)

{live_result, live_seen} =
  receive do
    {:live, r} -> r
    {:DOWN, ^reader_ref, :process, _, why} -> {{:error, {:reader_crashed, why}}, []}
  after
    60_000 -> Process.exit(reader_pid, :kill); {{:error, :reader_still_running}, []}
  end

:inets.start()
{:ok, {{_, 200, _}, _, body}} = :httpc.request(String.to_charlist(proxy_url <> "/__chaos/stats"))
stats = JSON.decode!(IO.iodata_to_binary(body))

{dups, lost, ooo} = Chaos.tally(stored, n)
{ldups, llost, looo} = Chaos.tally(live_seen, n)
faults = stats["faults"] |> Map.values() |> Enum.sum()
p = stats["producer"]
# What the live reader went through (tests/chaos/proxy.mjs, "reader").
r = stats["reader"]
reader_faults = r["faults"] |> Map.values() |> Enum.sum()
{rate, _} = Float.parse(rate_s)
min_live = if rate >= 0.04 and n >= 20_000, do: min_live_faults, else: 0

ok =
  flush_result == :ok and close_result == :ok and live_result == :ok and length(stored) == n and
    dups + lost + ooo == 0 and length(live_seen) == n and ldups + llost + looo == 0 and
    r["midStream"] >= min_live

# Repeats over faults on the producer's own requests (tests/chaos/proxy.mjs, extraPerFault).
extra = (p["requests"] - p["batches"]) / max(p["faults"], 1)
okn = if ok, do: 1, else: 0

IO.puts(
  "summary: chaos (elixir): #{okn} passed, #{1 - okn} failed, 0 skipped — sent #{n}, stored #{length(stored)}, " <>
    "duplicates #{dups}, lost #{lost}, out of order #{ooo}, requests per fault #{:erlang.float_to_binary(extra / 1, decimals: 2)} " <>
    "(producer: #{p["requests"]} requests for #{p["batches"]} batches, #{p["faults"]} faults, " <>
    "#{Map.get(p["statuses"], "409", 0)} 409s); live consumer saw #{length(live_seen)} " <>
    "(duplicates #{ldups}, lost #{llost}, out of order #{looo}) through #{reader_faults} faults " <>
    "(#{r["midStream"]} mid-stream) and #{r["reconnects"]} reconnects; proxy requests #{stats["requests"]}, " <>
    "faults #{faults} #{JSON.encode!(stats["faults"])}; #{:erlang.float_to_binary(elapsed / 1, decimals: 1)} s (seed #{seed}, rate #{rate_s})"
)

if flush_result != :ok, do: IO.puts(:stderr, "chaos (elixir): append/flush failed: #{inspect(flush_result)}")
if close_result != :ok, do: IO.puts(:stderr, "chaos (elixir): close failed: #{inspect(close_result)}")
if live_result != :ok, do: IO.puts(:stderr, "chaos (elixir): live reader failed: #{inspect(live_result)}")

if r["midStream"] < min_live,
  do: IO.puts(:stderr, "chaos (elixir): the live reader met #{r["midStream"]} mid-stream faults, fewer than #{min_live}: not exercised")
Port.close(proxy)
System.halt(if ok, do: 0, else: 1)
