defmodule DurableStreams.LifecycleTest do
  # Not async: it counts the NIF's live operations, so nothing else may run meanwhile.
  use DS.Case, async: false

  defp settle(expected, tries \\ 100) do
    n = DurableStreams.Native.live_operations()
    cond do
      n == expected -> n
      tries == 0 -> n
      true -> Process.sleep(20); settle(expected, tries - 1)
    end
  end

  test "a killed caller leaves no Rust task behind (long SSE read, long-poll read, consumer)" do
    stream = Client.stream(Client.new(url()), unique("killed"))
    {:ok, stream} = Stream.create(stream, content_type: "application/json")
    base = settle(0)
    assert base == 0

    pids =
      for live <- [:sse, :long_poll] do
        spawn(fn -> Stream.read(stream, offset: "now", live: live, timeout: 120_000) end)
      end

    defmodule Idle do
      @behaviour DurableStreams.Consumer
      def init(_), do: {:ok, nil}
      def handle_batch(_, s), do: {:ok, s}
      def handle_error(_, s), do: {:reconnect, s}
    end

    {:ok, consumer} = GenServer.start(DurableStreams.Consumer, stream: stream, callback: {Idle, []}, live: :sse)
    Process.sleep(300)
    # Two reads and the consumer's pending next are in flight.
    assert DurableStreams.Native.live_operations() == 3

    Enum.each([consumer | pids], &Process.exit(&1, :kill))
    assert settle(0) == 0
  end

  test "a panic-free, scheduler-free wait: many concurrent callers are served" do
    stream = Client.stream(Client.new(url()), unique("many"))
    {:ok, stream} = Stream.create(stream, content_type: "text/plain")
    # 200 long-polls parked at once (more than schedulers): other calls still go through.
    readers = for _ <- 1..200, do: Task.async(fn -> Stream.read(stream, offset: "now", live: :long_poll, timeout: 2_000) end)
    Process.sleep(200)
    assert {:ok, _} = Stream.append(stream, "x")
    results = Task.await_many(readers, 10_000)
    assert Enum.all?(results, &match?({:ok, %DurableStreams.Chunk{}}, &1))
    assert Enum.count(results, fn {:ok, c} -> c.data == "x" end) > 150
    assert settle(0) == 0
  end
end
