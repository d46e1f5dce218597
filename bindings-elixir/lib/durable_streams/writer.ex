defmodule DurableStreams.Writer do
  @moduledoc """
  Exactly-once, ordered, batching writes: a GenServer over the core's idempotent
  producer (`(producer_id, epoch, seq)` on every batch, retries that never duplicate
  or reorder, sequence gaps resolved, auto-claim on a stale epoch).

      {:ok, writer} = DurableStreams.Writer.start_link(stream: stream, producer_id: "orders")
      :ok = DurableStreams.Writer.append(writer, ~s({"order_id": 1}))
      :ok = DurableStreams.Writer.flush(writer)
      :ok = DurableStreams.Writer.close(writer)

  Options (defaults as the seed client): `:stream` and `:producer_id` (required),
  `:epoch` (0), `:auto_claim` (false), `:max_batch_size` (100), `:max_batch_bytes`
  (1 MB), `:linger_ms` (5), `:on_error` (nil: a 1-arity function called with the reason
  of each failed batch), plus `:max_in_flight` (5) and `:name`.

  `append/2` returns `:ok` as soon as the message's place in the stream is fixed (it
  waits only when the core's buffer is full); `flush/1` and `close/1` return
  `{:error, reason}` if any message was lost.
  """
  use GenServer
  alias DurableStreams.{Error, Native}

  @defaults [epoch: 0, auto_claim: false, max_batch_size: 100, max_batch_bytes: 1_048_576, linger_ms: 5, on_error: nil]

  def start_link(opts) do
    {gen_opts, opts} = Keyword.split(opts, [:name])
    GenServer.start_link(__MODULE__, opts, gen_opts)
  end

  @doc "Fire-and-forget append: `:ok` once the message is queued in order."
  def append(writer, data) when is_binary(data), do: GenServer.call(writer, {:append, [data], false}, :infinity)

  @doc "Queue many messages in one call, in order."
  def append_many(writer, list) when is_list(list), do: GenServer.call(writer, {:append, list, false}, :infinity)

  @doc "Acknowledged append: `{:ok, %{next_offset:, duplicate:, epoch:, seq:}}` once stored."
  def append_sync(writer, data, timeout \\ :infinity) when is_binary(data),
    do: GenServer.call(writer, {:append, [data], true}, timeout)

  @doc "Waits until everything appended so far is stored: `:ok` or `{:error, reason}`."
  def flush(writer, timeout \\ :infinity), do: GenServer.call(writer, :flush, timeout)

  @doc "Flushes, then stops the writer (the stream stays open): `:ok` or `{:error, reason}`."
  def close(writer, timeout \\ :infinity), do: GenServer.call(writer, :close, timeout)

  @doc "Flushes, then closes the stream itself: `{:ok, final_offset}` or `{:error, reason}`."
  def close_stream(writer, data \\ nil, timeout \\ :infinity), do: GenServer.call(writer, {:close_stream, data}, timeout)

  @doc "The epoch in use (changes after an auto-claim)."
  def epoch(writer), do: GenServer.call(writer, :epoch)

  @impl true
  def init(opts) do
    opts = Keyword.merge(@defaults, opts)
    stream = Keyword.fetch!(opts, :stream)

    native = %{
      producer_id: Keyword.fetch!(opts, :producer_id),
      epoch: opts[:epoch],
      auto_claim: opts[:auto_claim],
      max_batch_size: opts[:max_batch_size],
      max_batch_bytes: opts[:max_batch_bytes],
      linger_ms: opts[:linger_ms] / 1,
      max_in_flight: opts[:max_in_flight],
      content_type: opts[:content_type],
      headers: DurableStreams.Client.pairs(opts[:headers])
    }

    case Native.producer_start(stream.ref, native, self()) do
      {:ok, p} ->
        {:ok, %{producer: p, mode: stream.client.errors, on_error: opts[:on_error], pending: %{}, lost: nil}}

      {:error, e} ->
        {:stop, Error.shape(Error.from_native(e), stream.client.errors)}
    end
  end

  @impl true
  def handle_call({:append, msgs, want_ack}, from, st) do
    ref = make_ref()

    case Native.producer_enqueue(st.producer, msgs, want_ack, ref) do
      :ok -> {:reply, :ok, st}
      {tag, task} when tag in [:wait, :ack] -> {:noreply, wait(st, ref, task, {:reply, from})}
      {:error, e} -> {:reply, {:error, shape(st, e)}, st}
    end
  end

  def handle_call(:flush, from, st), do: start(st, from, &Native.producer_flush(st.producer, &1), :flush)
  def handle_call(:close, from, st), do: start(st, from, &Native.producer_detach(st.producer, &1), :close)

  def handle_call({:close_stream, data}, from, st),
    do: start(st, from, &Native.producer_close(st.producer, &1, data), :close_stream)

  def handle_call(:epoch, _from, st), do: {:reply, Native.producer_epoch(st.producer), st}

  @impl true
  def handle_info({:ds_reply, ref, result}, st) do
    {{task, action}, pending} = Map.pop(st.pending, ref)
    Native.task_done(task)
    st = %{st | pending: pending}
    result = Error.wrap(result, st.mode)

    case action do
      {:reply, from} ->
        GenServer.reply(from, if(result == {:ok, :ok}, do: :ok, else: result))
        {:noreply, st}

      {:flush, from} ->
        {reply, st} = settle(result, st)
        GenServer.reply(from, reply)
        {:noreply, st}

      {:close, from} ->
        {reply, st} = settle(result, st)
        GenServer.reply(from, reply)
        {:stop, :normal, st}

      {:close_stream, from} ->
        {reply, st} = settle(result, st)
        GenServer.reply(from, reply)
        {:noreply, st}
    end
  end

  # A batch failed: its messages are lost. Reported to :on_error now and by the next
  # flush/close.
  def handle_info({:ds_producer_error, e, _count}, st) do
    reason = shape(st, e)

    if f = st.on_error do
      try do
        f.(reason)
      rescue
        err -> require Logger; Logger.error("DurableStreams.Writer on_error raised: " <> Exception.message(err))
      end
    end

    {:noreply, %{st | lost: st.lost || reason}}
  end

  defp start(st, from, fun, kind) do
    ref = make_ref()
    {:noreply, wait(st, ref, fun.(ref), {kind, from})}
  end

  defp wait(st, ref, task, action), do: %{st | pending: Map.put(st.pending, ref, {task, action})}

  # flush/close answer an error when the core reports one or any batch was lost since.
  defp settle({:ok, v}, %{lost: nil} = st), do: {if(v == :ok, do: :ok, else: {:ok, v}), st}
  defp settle({:ok, _}, st), do: {{:error, st.lost}, %{st | lost: nil}}
  defp settle({:error, _} = err, st), do: {err, %{st | lost: nil}}

  defp shape(st, e), do: Error.shape(Error.from_native(e), st.mode)
end
