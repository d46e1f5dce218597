# Every test runs against a real reference server (tests/server/ref-server.mjs),
# started once for the whole run on a free 127.0.0.1 port.
defmodule DS.TestServer do
  @repo Path.expand("../..", __DIR__)

  def start do
    node = System.find_executable("node") || raise "node not found"
    port =
      Port.open({:spawn_executable, node}, [
        :binary,
        {:line, 4096},
        args: [Path.join(@repo, "tests/server/ref-server.mjs")],
        cd: @repo,
        env: [{~c"DS_LONGPOLL_MS", ~c"500"}]
      ])

    receive do
      {^port, {:data, {:eol, "http" <> _ = url}}} -> {port, url}
    after
      20_000 -> raise "reference server did not start"
    end
  end
end

{_port, url} = DS.TestServer.start()
Application.put_env(:durable_streams_sdk, :test_url, url)
:inets.start()
ExUnit.start()

defmodule DS.Case do
  use ExUnit.CaseTemplate

  using do
    quote do
      import DS.Case
      alias DurableStreams.{Client, Stream, Consumer, Writer}
      require Logger
    end
  end

  def url, do: Application.fetch_env!(:durable_streams_sdk, :test_url)
  def unique(prefix), do: "/#{prefix}-#{System.unique_integer([:positive])}"

  @doc "Arm a fault on the reference server for one path (POST /_test/inject-error)."
  def inject(path, fault) do
    body = DurableStreams.JSON.encode!(Map.put(fault, "path", path))
    {:ok, {{_, 200, _}, _, _}} =
      :httpc.request(:post, {String.to_charlist(url() <> "/_test/inject-error"), [], ~c"application/json", body}, [], [])
    :ok
  end

  @doc "Replace the path's fault by one that never matches."
  def disarm(path), do: inject(path, %{"status" => 500, "count" => 1, "method" => "NEVER"})

  @doc "All JSON messages stored on a stream."
  def all_messages(stream) do
    {:ok, chunks} = DurableStreams.Stream.read_all(stream)
    Enum.flat_map(chunks, & &1.messages)
  end
end
