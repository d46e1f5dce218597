defmodule DurableStreams.ConformanceAdapter do
  @moduledoc false
  # Conformance adapter for the Elixir binding (tests/adapters/elixir runs `main/0`):
  # one JSON command per line on stdin, one JSON result per line on stdout, every
  # command run through the binding's public API (Client, Stream, Reader, Writer).
  # Contract: shared/protocol/ADAPTER-PROTOCOL.md. It holds no protocol logic.
  alias DurableStreams.{Client, JSON, Reader, Stream, Writer}

  @octet "application/octet-stream"

  def main do
    Process.flag(:trap_exit, true)
    # Raw bytes both ways: the lines are UTF-8 JSON, decoded and encoded by the NIF.
    :ok = :io.setopts(:standard_io, binary: true, encoding: :latin1)
    loop(%{url: nil, client: nil, dyn_headers: [], dyn_params: [], types: %{}, producers: %{}})
  end

  defp loop(st) do
    case IO.binread(:stdio, :line) do
      :eof -> :ok
      {:error, _} -> :ok
      line ->
        line = line |> String.trim_trailing("\n") |> String.trim_trailing("\r")

        if String.trim(line) == "" do
          loop(st)
        else
          {result, st, stop} = handle(line, st)
          IO.binwrite(:stdio, JSON.encode!(result) <> "\n")
          if stop, do: System.halt(0), else: loop(st)
        end
    end
  end

  defp handle(line, st) do
    case JSON.decode(line) do
      {:ok, %{"type" => type} = c} ->
        {outcome, st} =
          try do
            run(type, c, st)
          rescue
            e -> {{:error, "INTERNAL_ERROR", nil, Exception.message(e)}, st}
          end

        {envelope(type, outcome), st, type == "shutdown"}

      _ ->
        {envelope("init", {:error, "PARSE_ERROR", nil, "invalid JSON line"}), st, false}
    end
  end

  defp envelope(type, {:ok, fields}), do: Map.merge(fields, %{"type" => type, "success" => true})

  defp envelope(type, {:error, code, status, msg}) do
    e = %{"type" => "error", "success" => false, "commandType" => type, "errorCode" => code, "message" => msg}
    if status, do: Map.put(e, "status", status), else: e
  end

  defp fail(%DurableStreams.Error{} = e), do: {:error, e.conformance_code, e.status, e.message}

  # ---- commands ----

  defp run("init", c, _st) do
    st = rebuild(%{url: c["serverUrl"], client: nil, dyn_headers: [], dyn_params: [], types: %{}, producers: %{}})

    features = %{
      "sse" => true, "longPoll" => true, "auto" => true, "streaming" => true, "dynamicHeaders" => true,
      "retryOptions" => true, "batching" => true, "batchItems" => true, "strictZeroValidation" => true
    }

    {{:ok, %{"clientName" => "durable-streams-sdk (elixir)", "clientVersion" => "0.1.0", "features" => features}}, st}
  end

  defp run("shutdown", _c, st), do: {{:ok, %{}}, st}

  defp run("create", c, st) do
    ct = c["contentType"] || @octet
    opts = [content_type: ct, ttl_seconds: c["ttlSeconds"], expires_at: c["expiresAt"], closed: c["closed"] == true,
            data: c["data"], headers: c["headers"]]

    case Stream.create_with_result(stream(st, c["path"]), opts) do
      {:ok, r} ->
        st = put_in(st.types[c["path"]], r.content_type || ct)
        {{:ok, maybe(%{"status" => r.status}, "offset", r.next_offset)}, st}

      {:error, e} -> {fail(e), st}
    end
  end

  defp run(type, c, st) when type in ["connect", "head"] do
    case Stream.head(stream(st, c["path"]), headers: c["headers"]) do
      {:ok, m} ->
        st = if m.content_type, do: put_in(st.types[c["path"]], m.content_type), else: st
        base = %{"status" => 200, "offset" => m.next_offset}

        out =
          if type == "head" do
            base
            |> Map.put("streamClosed", m.stream_closed)
            |> maybe("contentType", m.content_type)
            |> maybe("ttlSeconds", m.ttl_seconds)
            |> maybe("expiresAt", m.expires_at)
          else
            base
          end

        {{:ok, out}, st}

      {:error, e} -> {fail(e), st}
    end
  end

  defp run("delete", c, st) do
    case Stream.delete(stream(st, c["path"]), headers: c["headers"]) do
      :ok -> {{:ok, %{"status" => 200}}, %{st | types: Map.delete(st.types, c["path"])}}
      {:error, e} -> {fail(e), st}
    end
  end

  defp run("append", c, st) do
    data = if c["binary"], do: Base.decode64(c["data"]), else: {:ok, c["data"]}

    case data do
      :error -> {{:error, "INVALID_ARGUMENT", nil, "data is not valid base64"}, st}
      {:ok, bytes} ->
        opts = [content_type: type_of(st, c["path"]), seq: c["seq"], headers: c["headers"],
                producer_id: c["producerId"], producer_epoch: c["producerEpoch"], producer_seq: c["producerSeq"]]

        case Stream.append(stream(st, c["path"]), bytes, opts) do
          {:ok, r} ->
            out =
              %{"status" => 200}
              |> maybe("offset", r.next_offset)
              |> maybe("duplicate", r.duplicate || nil)
              |> maybe("producerEpoch", r.producer_epoch)
              |> maybe("producerSeq", r.producer_seq)
              |> sent(st, r.sent)

            {{:ok, out}, st}

          {:error, e} -> {fail(e), st}
        end
    end
  end

  defp run("close", c, st) do
    case Stream.close(stream(st, c["path"]), data: c["data"], content_type: c["contentType"] || type_of(st, c["path"])) do
      {:ok, final} -> {{:ok, %{"finalOffset" => final}}, st}
      {:error, e} -> {fail(e), st}
    end
  end

  defp run("read", c, st) do
    live =
      case c["live"] do
        true -> :auto
        "long-poll" -> :long_poll
        "sse" -> :sse
        _ -> false
      end

    deadline = now() + (c["timeoutMs"] || 5000)

    case Reader.open(stream(st, c["path"]), offset: c["offset"] || "-1", live: live, headers: c["headers"]) do
      {:ok, reader} ->
        acc = %{chunks: [], status: 200, up: false, closed: false, sent: nil}
        result = collect(reader, deadline, c["maxChunks"] || 100, c["waitForUpToDate"] == true, acc)
        pos = Reader.position(reader)
        Reader.cancel(reader)

        case result do
          {:ok, acc} ->
            out =
              %{"status" => acc.status, "chunks" => Enum.reverse(acc.chunks), "offset" => pos.offset,
                "upToDate" => acc.up, "streamClosed" => acc.closed}
              |> maybe("cursor", pos.cursor)
              |> sent(st, acc.sent || %{headers: [], params: []})

            {{:ok, out}, st}

          {:error, e} -> {fail(e), st}
        end

      {:error, e} -> {fail(e), st}
    end
  end

  defp run("idempotent-append", c, st) do
    with_producer(c, st, fn w ->
      case Writer.append_sync(w, c["data"]) do
        {:ok, ack} -> {:ok, maybe(%{"status" => 200, "duplicate" => ack.duplicate, "producerSeq" => ack.seq}, "offset", ack.next_offset)}
        err -> err
      end
    end)
  end

  defp run("idempotent-append-batch", c, st) do
    mif = max(c["maxInFlight"] || 1, 1)
    items = c["items"]

    opts =
      producer_opts(c, st) ++
        [max_in_flight: mif, max_batch_size: if(mif == 1, do: max(length(items), 1), else: 1), linger_ms: 3_600_000]

    result =
      case Writer.start_link(opts) do
        {:ok, w} ->
          r = with :ok <- Writer.append_many(w, items), :ok <- Writer.flush(w), do: Writer.close(w)
          r

        err -> err
      end

    case result do
      :ok -> {{:ok, %{"status" => 200}}, st}
      {:error, e} -> {fail(e), st}
    end
  end

  defp run("idempotent-close", c, st) do
    with_producer(c, st, fn w ->
      case Writer.close_stream(w, c["data"]) do
        {:ok, final} -> {:ok, %{"status" => 200, "finalOffset" => final}}
        err -> err
      end
    end)
  end

  defp run("idempotent-detach", c, st) do
    key = {c["path"], c["producerId"], c["epoch"] || 0}

    case Map.pop(st.producers, key) do
      {nil, _} -> {{:ok, %{"status" => 200}}, st}
      {w, producers} ->
        st = %{st | producers: producers}

        case Writer.close(w) do
          :ok -> {{:ok, %{"status" => 200}}, st}
          {:error, e} -> {fail(e), st}
        end
    end
  end

  defp run("set-dynamic-header", c, st) do
    item = {c["name"], dyn_kind(c)}
    list = Enum.reject(st.dyn_headers, fn {n, _} -> String.downcase(n) == String.downcase(c["name"]) end)
    {{:ok, %{}}, rebuild(%{st | dyn_headers: list ++ [item]})}
  end

  defp run("set-dynamic-param", c, st) do
    list = Enum.reject(st.dyn_params, fn {n, _} -> n == c["name"] end)
    {{:ok, %{}}, rebuild(%{st | dyn_params: list ++ [{c["name"], dyn_kind(c)}]})}
  end

  defp run("clear-dynamic", _c, st), do: {{:ok, %{}}, rebuild(%{st | dyn_headers: [], dyn_params: []})}

  defp run("validate", %{"target" => t}, st) do
    result =
      case t["target"] do
        "retry-options" ->
          DurableStreams.Native.validate_retry(int(t["maxRetries"]), num(t["initialDelayMs"]), num(t["maxDelayMs"]), num(t["multiplier"]))

        "idempotent-producer" ->
          DurableStreams.Native.validate_producer(%{
            producer_id: Map.get(t, "producerId", "validate-producer"), epoch: int(t["epoch"]), auto_claim: nil,
            max_batch_size: int(t["maxBatchItems"]), max_batch_bytes: int(t["maxBatchBytes"]), linger_ms: nil,
            max_in_flight: nil, content_type: nil, headers: []})

        other -> {:unsupported, other}
      end

    case result do
      {:ok, _} -> {{:ok, %{}}, st}
      {:unsupported, other} -> {{:error, "NOT_SUPPORTED", nil, "unknown validate target #{inspect(other)}"}, st}
      # Option names in the message as the protocol spells them (the binding spells them the Elixir way).
      {:error, e} -> {{:error, "INVALID_ARGUMENT", nil, "invalid #{protocol_name(e.field)}: #{e.message}"}, st}
    end
  end

  defp run(type, _c, st), do: {{:error, "NOT_SUPPORTED", nil, "command #{type} not supported by this adapter"}, st}

  # ---- helpers ----

  defp collect(reader, deadline, max, wait_up, acc) do
    left = deadline - now()

    if left <= 0 do
      {:ok, %{acc | up: true}}
    else
      case Reader.next(reader, left) do
        :timeout -> {:ok, %{acc | up: true}}
        :end -> {:ok, acc}
        {:error, e} -> {:error, e}
        {:ok, chunk} ->
          acc = %{acc | status: chunk.status, up: chunk.up_to_date, closed: chunk.stream_closed, sent: chunk.sent}
          acc = if chunk.data != "" and chunk.data != "[]",
                  do: %{acc | chunks: [%{"data" => text(chunk.data), "offset" => chunk.next_offset} | acc.chunks]},
                  else: acc

          if acc.closed or length(acc.chunks) >= max or (wait_up and acc.up),
            do: {:ok, acc},
            else: collect(reader, deadline, max, wait_up, acc)
      end
    end
  end

  defp with_producer(c, st, fun) do
    key = {c["path"], c["producerId"], c["epoch"] || 0}

    {w, st} =
      case st.producers[key] do
        nil ->
          {:ok, w} = Writer.start_link(producer_opts(c, st))
          {w, put_in(st.producers[key], w)}

        w -> {w, st}
      end

    case fun.(w) do
      {:ok, out} -> {{:ok, out}, st}
      {:error, e} -> {fail(e), st}
    end
  end

  defp producer_opts(c, st) do
    [stream: stream(st, c["path"]), producer_id: c["producerId"], epoch: c["epoch"] || 0,
     auto_claim: c["autoClaim"] == true, content_type: type_of(st, c["path"]), headers: c["headers"]]
  end

  defp rebuild(st) do
    %{st | client: Client.new(st.url, errors: :struct, append_retry: :at_least_once,
                               dynamic_headers: st.dyn_headers, dynamic_params: st.dyn_params)}
  end

  defp stream(st, path), do: Client.stream(st.client, path)

  defp type_of(st, path), do: Map.get(st.types, path, @octet)

  defp dyn_kind(%{"valueType" => "token"} = c), do: {:token, c["initialValue"] || ""}
  defp dyn_kind(%{"valueType" => kind}), do: String.to_atom(kind)

  defp sent(out, st, s) do
    out
    |> then(fn o -> if st.dyn_headers != [], do: Map.put(o, "headersSent", Map.new(s.headers)), else: o end)
    |> then(fn o -> if st.dyn_params != [], do: Map.put(o, "paramsSent", Map.new(s.params)), else: o end)
  end

  defp maybe(m, _k, nil), do: m
  defp maybe(m, k, v), do: Map.put(m, k, v)

  defp int(nil), do: nil
  defp int(n) when is_float(n), do: trunc(n)
  defp int(n), do: n
  defp num(nil), do: nil
  defp num(n), do: n / 1

  @protocol_names %{"max_batch_bytes" => "maxBatchBytes", "max_batch_size" => "maxBatchItems", "producer_id" => "producerId",
                    "max_retries" => "maxRetries", "initial_delay" => "initialDelayMs", "max_delay" => "maxDelayMs"}
  defp protocol_name(field), do: Map.get(@protocol_names, field, field)

  # Chunk text: UTF-8 with invalid sequences replaced.
  defp text(bin) do
    case :unicode.characters_to_binary(bin) do
      good when is_binary(good) -> good
      {_, good, <<_, rest::binary>>} -> good <> "\uFFFD" <> text(rest)
    end
  end

  defp now, do: System.monotonic_time(:millisecond)
end
