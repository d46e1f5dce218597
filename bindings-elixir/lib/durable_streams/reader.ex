defmodule DurableStreams.Reader do
  @moduledoc """
  A read session consumed chunk by chunk (catch-up, `:long_poll`, `:sse` or `:auto`),
  for callers that drive reads themselves rather than through `DurableStreams.Consumer`.

      {:ok, reader} = DurableStreams.Reader.open(stream, offset: "-1", live: :sse)
      {:ok, chunk} = DurableStreams.Reader.next(reader, 5_000)

  The session reads ahead on the core's runtime; it is cancelled by `cancel/1` or when
  the reader term is garbage-collected.
  """
  alias DurableStreams.{Error, Native, Stream}

  defstruct [:ref, :errors]

  @doc "Opens a session. Options as `DurableStreams.Stream.read/2` (`:offset`, `:live`, `:headers`, `:cursor`)."
  def open(%Stream{} = s, opts \\ []) do
    case Native.read_open(s.ref, Stream.read_opts(opts, Keyword.get(opts, :live, false))) do
      {:ok, ref} -> {:ok, %__MODULE__{ref: ref, errors: s.client.errors}}
      err -> Error.wrap(err, s.client.errors)
    end
  end

  @doc """
  The next chunk: `{:ok, chunk}`, `:end` (caught up in catch-up mode, stream closed, or
  cancelled), `:timeout` (nothing within `timeout` ms; the session stays usable only if
  no chunk was in the middle of arriving, so treat it as the end of the read), or `{:error, reason}`.
  """
  def next(%__MODULE__{ref: ref, errors: mode}, timeout \\ :infinity) do
    case Native.call(&Native.read_next(ref, &1), timeout) do
      {:ok, nil} -> :end
      :timeout -> :timeout
      other -> Error.wrap(other, mode)
    end
  end

  @doc "Where the session stands: `%{offset:, cursor:, up_to_date:, stream_closed:}`."
  def position(%__MODULE__{ref: ref}), do: Native.read_position(ref)

  @doc "Stops the session now."
  def cancel(%__MODULE__{ref: ref}), do: Native.read_cancel(ref)
end
