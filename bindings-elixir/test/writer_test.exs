defmodule DurableStreams.WriterTest do
  use DS.Case, async: true

  defp json_stream(prefix) do
    stream = Client.stream(Client.new(url()), unique(prefix))
    {:ok, stream} = Stream.create(stream, content_type: "application/json")
    stream
  end

  test "idempotent writer (seed README)" do
    stream = json_stream("orders")
    {:ok, writer} = DurableStreams.Writer.start_link(
      stream: stream,
      producer_id: "order-service-#{node()}",
      epoch: 0
    )
    :ok = DurableStreams.Writer.append(writer, ~s({"order_id": 1, "status": "created"}))
    :ok = DurableStreams.Writer.append(writer, ~s({"order_id": 1, "status": "paid"}))
    :ok = DurableStreams.Writer.append(writer, ~s({"order_id": 1, "status": "shipped"}))
    :ok = DurableStreams.Writer.flush(writer)
    ref = Process.monitor(writer)
    :ok = DurableStreams.Writer.close(writer)
    assert_receive {:DOWN, ^ref, :process, ^writer, :normal}
    assert Enum.map(all_messages(stream), & &1["status"]) == ["created", "paid", "shipped"]
  end

  test "epoch management and auto-claim (seed README)" do
    stream = json_stream("epochs")
    repo = Agent.start_link(fn -> nil end) |> elem(1)
    last_epoch = Agent.get(repo, & &1) || -1

    {:ok, writer} = DurableStreams.Writer.start_link(
      stream: stream,
      producer_id: "order-service",
      epoch: last_epoch + 1
    )
    Agent.update(repo, fn _ -> last_epoch + 1 end)
    :ok = Writer.append(writer, ~s({"n": 1}))
    :ok = Writer.flush(writer)

    # A restarted writer with a bumped epoch fences the old one.
    {:ok, newer} = Writer.start_link(stream: stream, producer_id: "order-service", epoch: 5)
    :ok = Writer.append(newer, ~s({"n": 2}))
    :ok = Writer.flush(newer)

    test_pid = self()
    {:ok, zombie} = Writer.start_link(stream: stream, producer_id: "order-service", epoch: 0,
      on_error: fn reason -> send(test_pid, {:on_error, reason}) end)
    :ok = Writer.append(zombie, ~s({"n": "zombie"}))
    assert {:error, {:stale_epoch, 5}} = Writer.flush(zombie)
    assert_receive {:on_error, {:stale_epoch, 5}}

    # Or auto-claim: take over at the server's epoch + 1.
    {:ok, writer} = DurableStreams.Writer.start_link(
      stream: stream,
      producer_id: "order-service",
      auto_claim: true  # Automatically bump epoch on 403
    )
    :ok = Writer.append(writer, ~s({"n": 3}))
    :ok = Writer.flush(writer)
    assert Writer.epoch(writer) == 6
    {:ok, ack} = Writer.append_sync(writer, ~s({"n": 4}))
    assert ack.epoch == 6 and is_binary(ack.next_offset)
    assert Enum.map(all_messages(stream), & &1["n"]) == [1, 2, 3, 4]
  end

  test "writer options: seed defaults are accepted, bad values named as Elixir spells them" do
    stream = json_stream("opts")
    Process.flag(:trap_exit, true)
    assert {:error, {:invalid_argument, "max_batch_size", _}} =
             Writer.start_link(stream: stream, producer_id: "p", max_batch_size: 0)
    assert {:error, {:invalid_argument, "linger_ms", _}} =
             Writer.start_link(stream: stream, producer_id: "p", linger_ms: -1)
    {:ok, w} = Writer.start_link(stream: stream, producer_id: "p")
    # Not JSON on a JSON stream: rejected at the call, nothing sent, the writer goes on.
    assert {:error, {:invalid_argument, _, _}} = Writer.append(w, "not json")
    :ok = Writer.append(w, ~s({"ok": true}))
    :ok = Writer.flush(w)
    assert all_messages(stream) == [%{"ok" => true}]
  end

  @n 5_000
  test "5,000 fire-and-forget appends with default options: all stored once, in order" do
    stream = json_stream("fire")
    {:ok, writer} = Writer.start_link(stream: stream, producer_id: "fire-and-forget")
    for i <- 1..@n, do: :ok = Writer.append(writer, ~s({"i":#{i}}))
    :ok = Writer.flush(writer)
    assert Enum.map(all_messages(stream), & &1["i"]) == Enum.to_list(1..@n)
    :ok = Writer.close(writer)
  end

  test "5,000 appends through the reference server's fault injection: all stored once, in order" do
    stream = json_stream("faults")
    path = stream.path
    faults = [
      %{"status" => 503, "count" => 100_000, "probability" => 0.05, "method" => "POST"},
      %{"status" => 500, "count" => 100_000, "probability" => 0.05, "method" => "POST"},
      %{"status" => 429, "retryAfter" => 0, "count" => 100_000, "probability" => 0.05, "method" => "POST"},
      %{"dropConnection" => true, "count" => 100_000, "probability" => 0.02, "method" => "POST"},
      %{"delayMs" => 20, "jitterMs" => 30, "count" => 100_000, "probability" => 0.1, "method" => "POST"},
      %{"status" => 503, "count" => 1, "method" => "POST"},
      %{"dropConnection" => true, "count" => 1, "method" => "POST"}
    ]
    test_pid = self()
    rotate = spawn_link(fn -> rotate(path, faults, 0, test_pid) end)
    {:ok, writer} = Writer.start_link(stream: stream, producer_id: "faulty", linger_ms: 1, max_batch_size: 50)
    for i <- 1..@n do
      :ok = Writer.append(writer, ~s({"i":#{i}}))
      # Every 250 messages, wait until one more fault has been armed: at least 20 faults
      # are armed while the writer is busy, however fast the machine.
      if rem(i, 250) == 0, do: assert_receive(:armed_tick, 5_000)
    end
    :ok = Writer.flush(writer)
    send(rotate, {:stop, self()})
    armed = receive do {:armed, n} -> n end
    assert armed >= 20
    assert Enum.map(all_messages(stream), & &1["i"]) == Enum.to_list(1..@n)
  end

  defp rotate(path, faults, n, test_pid) do
    inject(path, Enum.at(faults, rem(n, length(faults))))
    send(test_pid, :armed_tick)
    receive do
      {:stop, from} -> disarm(path); send(from, {:armed, n + 1})
    after
      50 -> rotate(path, faults, n + 1, test_pid)
    end
  end
end
