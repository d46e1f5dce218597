defmodule DurableStreams.Consumer do
  @moduledoc """
  A long-running reader: follows a stream, hands each batch to a callback module and
  checkpoints after the callback returns; transient failures reconnect with
  exponential backoff (in the core); the callback decides about the others.

      defmodule MyConsumer do
        @behaviour DurableStreams.Consumer
        def init(_args), do: {:ok, %{}}
        def handle_batch(batch, state), do: {:ok, state}
        def handle_error(_error, state), do: {:reconnect, state}
      end

      {:ok, pid} = DurableStreams.Consumer.start_link(stream: stream, callback: {MyConsumer, []})

  Options (defaults as the seed client): `:stream`, `:callback` (`{module, args}`),
  `:live` (`:long_poll`; also `false`, `:sse`), `:offset` (`"-1"`; also a 0-arity
  function called at every (re)start, so a supervised consumer resumes from the
  checkpoint it saved), `:backoff_base` (1000 ms), `:backoff_max` (30000 ms), `:name`.

  A batch is a `%DurableStreams.Chunk{}`: `data`, `next_offset`, `up_to_date` (and
  `messages`, decoded, for JSON streams). The consumer ends normally when the stream
  is closed.
  """
  use GenServer
  alias DurableStreams.{Error, Native}

  @callback init(args :: term) :: {:ok, state :: term}
  @callback handle_batch(batch :: DurableStreams.Chunk.t(), state :: term) ::
              {:ok, term} | {:stop, reason :: term, term}
  @callback handle_error(reason :: term, state :: term) :: {:reconnect, term} | {:stop, reason :: term, term}

  @defaults [live: :long_poll, offset: "-1", backoff_base: 1000, backoff_max: 30_000]

  def start_link(opts) do
    {gen_opts, opts} = Keyword.split(opts, [:name])
    GenServer.start_link(__MODULE__, opts, gen_opts)
  end

  def child_spec(opts) do
    %{id: Keyword.get(opts, :name, __MODULE__), start: {__MODULE__, :start_link, [opts]}, restart: :transient}
  end

  @doc "The offset after the last batch the callback accepted."
  def checkpoint(consumer), do: GenServer.call(consumer, :checkpoint)

  @doc "Stops the consumer."
  def stop(consumer), do: GenServer.stop(consumer)

  @impl true
  def init(opts) do
    opts = Keyword.merge(@defaults, opts)
    {mod, args} = Keyword.fetch!(opts, :callback)
    offset = resolve(opts[:offset])

    with {:ok, cstate} <- mod.init(args) do
      st = %{
        stream: Keyword.fetch!(opts, :stream),
        mod: mod,
        cstate: cstate,
        opts: opts,
        checkpoint: offset,
        handle: nil,
        task: nil,
        ref: nil,
        failures: 0
      }

      case open(st) do
        {:ok, st} -> {:ok, st}
        {:error, reason} -> {:stop, reason}
      end
    end
  end

  @impl true
  def handle_call(:checkpoint, _from, st), do: {:reply, st.checkpoint, st}

  @impl true
  def handle_info({:ds_reply, ref, result}, %{ref: ref} = st) do
    Native.task_done(st.task)
    st = %{st | task: nil, ref: nil}

    case result do
      {:ok, {:batch, chunk}} ->
        case st.mod.handle_batch(chunk, st.cstate) do
          {:ok, cstate} -> {:noreply, next(%{st | cstate: cstate, checkpoint: chunk.next_offset, failures: 0})}
          {:stop, reason, cstate} -> {:stop, reason, %{st | cstate: cstate}}
        end

      {:ok, {:up_to_date, _}} -> {:noreply, next(st)}
      {:ok, {:closed, _}} -> {:stop, :normal, st}
      {:ok, nil} -> {:stop, :normal, st}
      # A transient failure: the core waits its backoff before the next read.
      {:ok, {:reconnecting, e, _retry_in}} -> on_error(e, st, fn st -> next(st) end)
      # A permanent one ended the core's consumer: reopen from the checkpoint after a backoff.
      {:error, e} -> on_error(e, st, &reopen_later/1)
    end
  end

  def handle_info(:reopen, st) do
    case open(st) do
      {:ok, st} -> {:noreply, st}
      {:error, reason} -> {:stop, reason, st}
    end
  end

  def handle_info({:ds_reply, _stale, _}, st), do: {:noreply, st}

  defp on_error(e, st, continue) do
    reason = Error.shape(Error.from_native(e), st.stream.client.errors)

    case st.mod.handle_error(reason, st.cstate) do
      {:reconnect, cstate} -> {:noreply, continue.(%{st | cstate: cstate})}
      {:stop, why, cstate} -> {:stop, why, %{st | cstate: cstate}}
    end
  end

  defp open(st) do
    o = %{
      offset: to_string(st.checkpoint),
      live: DurableStreams.Stream.live_name(st.opts[:live]),
      backoff_base: st.opts[:backoff_base],
      backoff_max: st.opts[:backoff_max]
    }

    case Native.consumer_open(st.stream.ref, o) do
      {:ok, handle} -> {:ok, next(%{st | handle: handle})}
      {:error, e} -> {:error, Error.shape(Error.from_native(e), st.stream.client.errors)}
    end
  end

  defp next(st) do
    ref = make_ref()
    %{st | ref: ref, task: Native.consumer_next(st.handle, ref)}
  end

  defp reopen_later(st) do
    delay = min(st.opts[:backoff_max], st.opts[:backoff_base] * Integer.pow(2, min(st.failures, 20)))
    Process.send_after(self(), :reopen, delay)
    %{st | handle: nil, failures: st.failures + 1}
  end

  defp resolve(f) when is_function(f, 0), do: resolve(f.())
  defp resolve(nil), do: "-1"
  defp resolve(o), do: to_string(o)
end
