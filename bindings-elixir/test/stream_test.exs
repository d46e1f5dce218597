defmodule DurableStreams.StreamTest do
  use DS.Case, async: true

  test "quick start (seed README, verbatim apart from the server URL)" do
    client = DurableStreams.Client.new(url())
    stream = DurableStreams.Client.stream(client, unique("events"))
    {:ok, stream} = DurableStreams.Stream.create(stream, content_type: "application/json")
    {:ok, _} = DurableStreams.Stream.append(stream, ~s({"type": "user_created", "id": 1}))
    {:ok, _} = DurableStreams.Stream.append(stream, ~s({"type": "user_updated", "id": 1}))
    {:ok, chunks} = DurableStreams.Stream.read_all(stream)
    assert [%{"type" => "user_created", "id" => 1}, %{"type" => "user_updated", "id" => 1}] ==
             Enum.flat_map(chunks, & &1.messages)
    assert Enum.map(chunks, & &1.data) |> Enum.join() =~ ~s("user_updated")
  end

  test "streams, offsets and the low-level API" do
    client = Client.new(url())
    stream = Client.stream(client, unique("my-app/events"))
    {:ok, stream} = Stream.create(stream, content_type: "application/json", ttl_seconds: 86400)
    {:ok, meta} = Stream.head(stream)
    assert meta.ttl_seconds == 86400
    assert meta.content_type == "application/json"

    text = Client.stream(client, unique("text"))
    {:ok, text} = Stream.create(text, content_type: "text/plain")
    {:ok, result} = Stream.append(text, "Hello, World!")
    assert is_binary(result.next_offset)
    {:ok, chunk} = Stream.read(text, offset: "-1")
    assert chunk.data == "Hello, World!"
    assert chunk.next_offset == result.next_offset
    saved_offset = chunk.next_offset
    {:ok, _} = Stream.append(text, " more")
    {:ok, chunk} = Stream.read(text, offset: saved_offset)
    assert chunk.data == " more"
    {:ok, chunks} = Stream.read_all(text)
    assert Enum.map_join(chunks, & &1.data) == "Hello, World! more"
    {:ok, meta} = Stream.head(text)
    assert meta.next_offset == chunk.next_offset
    :ok = Stream.delete(text)
    assert {:error, :not_found} = Stream.head(text)
  end

  test "live modes: long-poll waits for new data, SSE streams it" do
    client = Client.new(url())
    stream = Client.stream(client, unique("live"))
    {:ok, stream} = Stream.create(stream, content_type: "text/plain")
    {:ok, %{next_offset: last_offset}} = Stream.append(stream, "a")

    parent = self()
    spawn_link(fn ->
      Process.sleep(300)
      {:ok, _} = Stream.append(stream, "b")
      send(parent, :appended)
    end)

    {:ok, chunk} = Stream.read(stream, offset: last_offset, live: :long_poll, timeout: 30_000)
    assert chunk.data == "b"
    assert_receive :appended

    spawn_link(fn ->
      Process.sleep(300)
      {:ok, _} = Stream.append(stream, "c")
    end)
    {:ok, chunk} = Stream.read(stream, offset: chunk.next_offset, live: :sse)
    assert chunk.data == "c"

    # Nothing new within the timeout: an empty, up-to-date chunk at the same offset.
    {:ok, empty} = Stream.read(stream, offset: chunk.next_offset, live: :long_poll, timeout: 700)
    assert empty.data == "" and empty.up_to_date and empty.next_offset == chunk.next_offset
  end

  test "manual idempotent appends (seed README)" do
    stream = Client.stream(Client.new(url()), unique("manual"))
    {:ok, stream} = Stream.create(stream, content_type: "text/plain")
    data = "one"
    data2 = "two"
    {:ok, _} = Stream.append(stream, data, producer_id: "my-producer", producer_epoch: 0, producer_seq: 0)
    {:ok, _} = Stream.append(stream, data2, producer_id: "my-producer", producer_epoch: 0, producer_seq: 1)
    # A retry of seq 1 is deduplicated by the server.
    {:ok, dup} = Stream.append(stream, data2, producer_id: "my-producer", producer_epoch: 0, producer_seq: 1)
    assert dup.duplicate
    {:ok, chunks} = Stream.read_all(stream)
    assert Enum.map_join(chunks, & &1.data) == "onetwo"
    assert {:error, {:sequence_gap, 2, 5}} =
             Stream.append(stream, "x", producer_id: "my-producer", producer_epoch: 0, producer_seq: 5)
    assert {:error, {:stale_epoch, 1}} =
             (fn ->
                {:ok, _} = Stream.append(stream, "e1", producer_id: "my-producer", producer_epoch: 1, producer_seq: 0)
                Stream.append(stream, "e0", producer_id: "my-producer", producer_epoch: 0, producer_seq: 2)
              end).()
  end

  test "error handling (seed README) and the reasons of the error table" do
    client = Client.new(url())
    stream = Client.stream(client, unique("missing"))
    offset = "-1"
    handled =
      case DurableStreams.Stream.read(stream, offset: offset) do
        {:ok, chunk} -> {:data, chunk.data}
        {:error, :not_found} -> :missing
        {:error, {:gone, earliest_offset}} -> {:gone, earliest_offset}
        {:error, {:stale_epoch, server_epoch}} -> {:fenced, server_epoch}
        {:error, reason} -> {:other, reason}
      end
    assert handled == :missing

    {:ok, s} = Stream.create(Client.stream(client, unique("closed")), content_type: "text/plain")
    {:ok, _final} = Stream.close(s)
    assert {:error, :stream_closed} = Stream.append(s, "late")
    assert {:error, {:conflict, msg}} = Stream.create(s, content_type: "application/json")
    assert is_binary(msg)
    assert {:error, {:bad_request, _}} = Stream.read(s, offset: "not-an-offset")
    assert {:error, {:invalid_argument, "producer_id", _}} =
             (Process.flag(:trap_exit, true); Writer.start_link(stream: s, producer_id: ""))

    # Manual producer headers come as a set: a partial one is refused, not sent without them.
    {:ok, t} = Stream.create(Client.stream(client, unique("partial")), content_type: "text/plain")
    assert {:error, {:invalid_argument, "producer_id", msg}} = Stream.append(t, "x", producer_id: "p", producer_epoch: 0)
    assert msg =~ "producer_id, producer_epoch and producer_seq"
    {:ok, _} = Stream.append(t, "x", producer_id: "p", producer_epoch: 0, producer_seq: 0)

    strict = Client.new(url(), errors: :struct)
    assert {:error, %DurableStreams.Error{code: "NOT_FOUND", status: 404, message: m}} =
             Stream.head(Client.stream(strict, "/nowhere"))
    assert m =~ "/nowhere"
  end

  test "every code of the core's error table maps to a reason" do
    for %{code: code, details: details} <- DurableStreams.Native.error_table(), code != "" do
      e = %DurableStreams.Error{code: code, message: "m", status: 400, details: Map.new(details, &{String.to_atom(&1), 1})}
      reason = DurableStreams.Error.reason(e)
      assert is_atom(reason) or is_tuple(reason), code
      # Specific shapes carry their details.
      if "earliest_offset" in details, do: assert(reason == {:gone, 1})
      if "current_epoch" in details, do: assert(reason == {:stale_epoch, 1})
      if "expected_seq" in details, do: assert(reason == {:sequence_gap, 1, 1})
    end
  end

  test "JSON in the NIF" do
    assert {:ok, %{"a" => [1, 2.5, nil, true, "x"]}} = DurableStreams.JSON.decode(~s({"a":[1,2.5,null,true,"x"]}))
    assert {:error, _} = DurableStreams.JSON.decode("{")
    assert DurableStreams.JSON.encode!(%{"k" => [1, nil, "v"]}) == ~s({"k":[1,null,"v"]})
  end
end
