# W1–W5 of bench/README.md through the Elixir binding (client "elixir-binding").
#   mix run bench/bench.exs -- [--quick] [--out FILE] [--workload w1|w2|w3|w4|w5|all] [--server node|rust]
# Servers, the W4/W5 writer: the Rust benchmark's own helpers (target/release/ds-bench), so the
# traffic is the same as the core's. Prints the same JSON result line (schema 1).
alias DurableStreams.{Client, Stream, Writer, Reader}
import Bitwise

defmodule B do
  @repo Path.expand("../..", __DIR__)
  def ds_bench, do: System.get_env("DS_BENCH") || Path.join(@repo, "target/release/ds-bench")

  def server(kind) do
    port = Port.open({:spawn_executable, ds_bench()}, [:binary, {:line, 4096}, args: ["server", "--server", kind]])
    receive do
      {^port, {:data, {:eol, "http" <> _ = url}}} -> {port, url}
    after 30_000 -> raise "ds-bench server did not start"
    end
  end

  def stop(port), do: Port.close(port)

  # Readers of a finished workload: stopped before their server goes, their messages dropped.
  def stop_readers(pids) do
    Enum.each(pids, fn p -> Process.unlink(p); Process.exit(p, :kill) end)
    flush()
  end

  defp flush do
    receive do
      {:msg, _, _} -> flush()
      {:reader_end, _} -> flush()
      :caught_up -> flush()
    after 0 -> :ok
    end
  end

  # getrusage-like figures for the whole OS process (BEAM schedulers + the core's threads).
  def cpu do
    [_, rest] = File.read!("/proc/self/stat") |> String.split(") ", parts: 2)
    f = String.split(rest, " ")
    tick = 100
    {String.to_integer(Enum.at(f, 11)) / tick, String.to_integer(Enum.at(f, 12)) / tick}
  end

  def peak_rss_mib do
    File.read!("/proc/self/status") |> String.split("\n") |> Enum.find_value(fn
      "VmHWM:" <> v -> (v |> String.trim() |> String.split(" ") |> hd() |> String.to_integer()) / 1024
      _ -> nil
    end)
  end

  def timed(fun) do
    {u0, s0} = cpu()
    t0 = System.monotonic_time(:microsecond)
    r = fun.()
    el = (System.monotonic_time(:microsecond) - t0) / 1.0e6
    {u1, s1} = cpu()
    {r, el, u1 - u0, s1 - s0}
  end

  def msg(i, size) do
    head = ~s({"i":#{i},"p":")
    head <> String.duplicate("x", size - byte_size(head) - 2) <> ~s("})
  end

  def line(workload, variant, server, params, ok, check, count, el, u, s, lat) do
    %{"schema" => 1, "workload" => workload, "variant" => variant, "client" => "elixir-binding",
      "client_version" => "0.1.0", "server" => server, "date" => DateTime.utc_now() |> DateTime.to_iso8601(),
      "cpus" => System.schedulers_online(), "compression" => false, "params" => params, "ok" => ok,
      "check" => check, "count" => count, "elapsed_s" => el, "throughput" => count / el,
      "unit" => "msgs/s", "cpu_s" => u + s, "cpu_user_s" => u, "cpu_sys_s" => s,
      "peak_rss_mib" => peak_rss_mib(), "latency_ms" => lat, "server_cpu_s" => nil, "ceiling" => nil,
      "pct_of_ceiling" => nil}
  end

  def percentiles([]), do: nil
  def percentiles(ns) do
    s = Enum.sort(ns) |> List.to_tuple()
    n = tuple_size(s)
    rank = fn p -> elem(s, max(0, min(n - 1, ceil(p * n) - 1))) / 1.0e6 end
    %{"p50" => rank.(0.5), "p99" => rank.(0.99), "max" => elem(s, n - 1) / 1.0e6}
  end

  # One reader per stream; each decoded message's latency goes to `collector`.
  def tail(stream, live, collector) do
    spawn_link(fn ->
      {:ok, r} = Reader.open(stream, offset: "-1", live: live)
      read_loop(r, collector, false)
    end)
  end

  defp read_loop(r, collector, caught_up) do
    case Reader.next(r) do
      {:ok, chunk} ->
        now = System.os_time(:nanosecond)
        for m <- chunk.messages || [], do: send(collector, {:msg, m["i"], now - m["t"]})
        if chunk.up_to_date and not caught_up, do: send(collector, :caught_up)
        read_loop(r, collector, caught_up or chunk.up_to_date)
      other -> send(collector, {:reader_end, other})
    end
  end

  def gather(0, lat, seen), do: {lat, seen}
  def gather(n, lat, seen) do
    receive do
      {:msg, i, ns} -> gather(n - 1, [ns | lat], MapSet.put(seen, i))
      {:reader_end, other} -> raise "reader ended: #{inspect(other)}"
    after 60_000 -> {lat, seen}
    end
  end

  # Read a whole stream in catch-up mode: {bytes, messages} taken.
  def drain(stream) do
    {:ok, r} = Reader.open(stream, offset: "-1", live: false)
    drain_loop(r, 0, 0)
  end

  defp drain_loop(r, bytes, msgs) do
    case Reader.next(r) do
      {:ok, chunk} -> drain_loop(r, bytes + byte_size(chunk.data || ""), msgs + length(chunk.messages || []))
      :end -> {bytes, msgs}
      other -> raise "read ended: #{inspect(other)}"
    end
  end

  def writer(url, prefix, args) do
    Port.open({:spawn_executable, ds_bench()},
      [:binary, :exit_status, args: ["writer", "--server-url", url, "--stream-prefix", prefix] ++ args])
  end

  def wait_port(port) do
    receive do
      {^port, {:exit_status, st}} -> st
      {^port, {:data, _}} -> wait_port(port)
    end
  end
end

{opts, _, _} = OptionParser.parse(Enum.reject(System.argv(), &(&1 == "--")), strict: [quick: :boolean, out: :string, workload: :string, server: :string])
quick = opts[:quick] || false
server_kind = opts[:server] || "node"
server_name = if server_kind == "node", do: "node-ref", else: server_kind
wl = opts[:workload] || "all"
emit = fn l ->
  text = DurableStreams.JSON.encode!(l)
  IO.puts(text)
  if opts[:out], do: File.write!(opts[:out], text <> "\n", [:append])
end
run_id = System.unique_integer([:positive])

if wl in ["all", "w1"] do
  n = if quick, do: 100_000, else: 1_000_000
  {port, url} = B.server(server_kind)
  client = Client.new(url)
  {:ok, stream} = Stream.create(Client.stream(client, "/bench/#{run_id}/w1"), content_type: "application/json")
  # Seed defaults: max_batch_size 100, max_batch_bytes 1 MB, linger 5 ms (and 5 in flight).
  {:ok, w} = Writer.start_link(stream: stream, producer_id: "w1")
  {:ok, el, u, s} =
    B.timed(fn -> Enum.each(0..(n - 1), &(:ok = Writer.append(w, B.msg(&1, 100)))); Writer.flush(w) end)
    |> then(fn {r, el, u, s} -> {r, el, u, s} end)
  {:ok, chunks} = Stream.read_all(stream)
  got = Enum.reduce(chunks, 0, &(length(&1.messages) + &2))
  emit.(B.line("W1", nil, server_name, %{"messages" => n, "msg_size" => 100, "batch_items" => 100, "batch_bytes" => 1_048_576,
    "linger_ms" => 5.0, "in_flight" => 5, "api" => "Writer.append/2 (GenServer call per message)"},
    got == n, "#{got}/#{n} read back", n, el, u, s, nil))
  Writer.close(w)
  B.stop(port)
end

if wl in ["all", "w2"] do
  # Catch-up read of a large binary stream, filled with 1 MiB appends; 3 timed reads after
  # one untimed warm-up, as the core's W2.
  mib = if quick, do: 64, else: 1024
  {port, url} = B.server(server_kind)
  client = Client.new(url)
  {:ok, stream} = Stream.create(Client.stream(client, "/bench/#{run_id}/w2"), content_type: "application/octet-stream")
  block = :binary.copy("x", 1 <<< 20)
  for _ <- 1..mib, do: ({:ok, _} = Stream.append(stream, block))
  _ = B.drain(stream)
  {results, el, u, s} = B.timed(fn -> for _ <- 1..3, do: B.drain(stream) end)
  bytes = results |> Enum.map(&elem(&1, 0)) |> Enum.sum()
  l = B.line("W2", nil, server_name, %{"mib" => mib, "reads" => 3}, bytes == 3 * mib * (1 <<< 20),
    "#{bytes} bytes read", bytes / (1 <<< 20), el, u, s, nil)
  emit.(Map.put(l, "unit", "MiB/s"))
  B.stop(port)
end

if wl in ["all", "w3"] do
  # Iterate every message of a JSON stream (decoded to Elixir terms in the NIF); 3 timed reads.
  n = if quick, do: 100_000, else: 1_000_000
  {port, url} = B.server(server_kind)
  client = Client.new(url)
  {:ok, stream} = Stream.create(Client.stream(client, "/bench/#{run_id}/w3"), content_type: "application/json")
  {:ok, w} = Writer.start_link(stream: stream, producer_id: "w3", max_batch_size: 10_000)
  0..(n - 1) |> Enum.chunk_every(1000) |> Enum.each(fn ids -> :ok = Writer.append_many(w, Enum.map(ids, &B.msg(&1, 100))) end)
  :ok = Writer.flush(w)
  _ = B.drain(stream)
  {results, el, u, s} = B.timed(fn -> for _ <- 1..3, do: B.drain(stream) end)
  got = results |> Enum.map(&elem(&1, 1)) |> Enum.sum()
  l = B.line("W3", nil, server_name, %{"messages" => n, "msg_size" => 100, "reads" => 3}, got == 3 * n,
    "#{got}/#{3 * n} messages", got, el, u, s, nil)
  emit.(Map.put(l, "unit", "items/s"))
  Writer.close(w)
  B.stop(port)
end

for {variant, live} <- [{"long-poll", :long_poll}, {"sse", :sse}], wl in ["all", "w4"] do
  n = if quick, do: 200, else: 1000
  {port, url} = B.server(server_kind)
  client = Client.new(url)
  prefix = "/bench/#{run_id}/w4-#{variant}/"
  {:ok, stream} = Stream.create(Client.stream(client, prefix <> "0"), content_type: "application/json")
  reader = B.tail(stream, live, self())
  receive do :caught_up -> :ok after 10_000 -> :ok end
  {{lat, seen}, el, u, s} = B.timed(fn ->
    wp = B.writer(url, prefix, ["--streams", "1", "--messages", "#{n}", "--interval-ms", "5"])
    r = B.gather(n, [], MapSet.new())
    B.wait_port(wp)
    r
  end)
  emit.(B.line("W4", variant, server_name, %{"messages" => n, "interval_ms" => 5, "msg_size" => 100},
    MapSet.size(seen) == n and length(lat) == n, "#{MapSet.size(seen)}/#{n} received, #{length(lat) - MapSet.size(seen)} duplicates",
    length(lat), el, u, s, B.percentiles(lat)))
  B.stop_readers([reader])
  B.stop(port)
end

if wl in ["all", "w5"] do
  {k, n} = if quick, do: {20, 2_000}, else: {200, 20_000}
  {port, url} = B.server(server_kind)
  client = Client.new(url)
  prefix = "/bench/#{run_id}/w5/"
  streams = for i <- 0..(k - 1) do
    {:ok, s} = Stream.create(Client.stream(client, prefix <> "#{i}"), content_type: "application/json")
    s
  end
  readers = Enum.map(streams, &B.tail(&1, :sse, self()))
  for _ <- 1..k, do: (receive do :caught_up -> :ok after 20_000 -> :ok end)
  {{lat, seen}, el, u, s} = B.timed(fn ->
    wp = B.writer(url, prefix, ["--streams", "#{k}", "--messages", "#{n}", "--rate", "2000", "--writers", "16"])
    r = B.gather(n, [], MapSet.new())
    B.wait_port(wp)
    r
  end)
  emit.(B.line("W5", nil, server_name, %{"streams" => k, "messages" => n, "rate" => 2000},
    MapSet.size(seen) == n, "#{MapSet.size(seen)}/#{n} received", length(lat), el, u, s, B.percentiles(lat)))
  B.stop_readers(readers)
  B.stop(port)
end
