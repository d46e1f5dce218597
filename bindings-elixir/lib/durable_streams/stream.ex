defmodule DurableStreams.Stream do
  @moduledoc """
  Operations on one stream. Handles are cheap values; every function returns
  `{:ok, result}` or `{:error, reason}` (see `DurableStreams.Error`) — `delete/1`
  returns `:ok`. Calls wait for the answer in the calling process without blocking a
  scheduler: the request runs on the core's runtime and replies by message; if the
  caller dies, the request is aborted.
  """
  alias DurableStreams.{Client, Error, Native}

  defstruct [:client, :path, :ref]
  @type t :: %__MODULE__{}

  @doc """
  Creates the stream (or confirms an identical one exists). Options: `:content_type`,
  `:ttl_seconds`, `:expires_at`, `:closed`, `:data`, `:headers`.
  """
  def create(%__MODULE__{} = s, opts \\ []) do
    with {:ok, _res} <- create_with_result(s, opts), do: {:ok, s}
  end

  @doc "Like `create/2`, returning the server's answer (`status`, `created`, `next_offset`, `content_type`)."
  def create_with_result(%__MODULE__{} = s, opts \\ []) do
    o = %{
      content_type: opts[:content_type],
      ttl_seconds: opts[:ttl_seconds],
      expires_at: opts[:expires_at],
      closed: Keyword.get(opts, :closed, false),
      data: opts[:data],
      headers: Client.pairs(opts[:headers])
    }

    run(s, &Native.create(s.ref, &1, o))
  end

  @doc """
  Appends `data` (for JSON streams: the text of one JSON value). Options:
  `:producer_id`, `:producer_epoch`, `:producer_seq` (manual idempotent appends),
  `:seq` (`Stream-Seq`), `:content_type`, `:close`, `:headers`. Returns
  `{:ok, %{next_offset: ..., duplicate: ..., ...}}`.
  """
  def append(%__MODULE__{} = s, data, opts \\ []) when is_binary(data) do
    o = %{
      content_type: opts[:content_type],
      seq: opts[:seq] && to_string(opts[:seq]),
      producer_id: opts[:producer_id],
      producer_epoch: opts[:producer_epoch],
      producer_seq: opts[:producer_seq],
      close: Keyword.get(opts, :close, false),
      headers: Client.pairs(opts[:headers])
    }

    run(s, &Native.append(s.ref, &1, data, o))
  end

  @doc """
  Reads one batch. Options: `:offset` (`"-1"`, the default, is the beginning; `"now"`
  the tail), `:live` (`false`, `:long_poll`, `:sse`, `:auto`), `:timeout` (ms a live
  read waits for data, default 30 000; at the end an empty, up-to-date chunk is
  returned), `:headers`. Returns `{:ok, %DurableStreams.Chunk{}}`.
  """
  def read(%__MODULE__{} = s, opts \\ []) do
    live = Keyword.get(opts, :live, false)
    o = read_opts(opts, live)
    run(s, &Native.read_once(s.ref, &1, %{o | timeout_ms: if(live, do: Keyword.get(opts, :timeout, 30_000))}))
  end

  @doc "Reads everything from `:offset` (default `\"-1\"`) to the tail: `{:ok, [chunk]}`."
  def read_all(%__MODULE__{} = s, opts \\ []) do
    run(s, &Native.read_all(s.ref, &1, to_string(Keyword.get(opts, :offset, "-1"))))
  end

  @doc "Stream metadata: `{:ok, %{content_type:, next_offset:, stream_closed:, ttl_seconds:, ...}}`."
  def head(%__MODULE__{} = s, opts \\ []) do
    run(s, &Native.head(s.ref, &1, Client.pairs(opts[:headers])))
  end

  @doc "Deletes the stream: `:ok`."
  def delete(%__MODULE__{} = s, opts \\ []) do
    case run(s, &Native.delete(s.ref, &1, Client.pairs(opts[:headers]))) do
      {:ok, :ok} -> :ok
      err -> err
    end
  end

  @doc "Closes the stream (optionally with a final message `:data`): `{:ok, final_offset}`."
  def close(%__MODULE__{} = s, opts \\ []) do
    run(s, &Native.close(s.ref, &1, opts[:data], opts[:content_type]))
  end

  @doc "The content type learnt from create, head or reads, if any."
  def content_type(%__MODULE__{ref: ref}), do: Native.stream_content_type(ref)

  @doc false
  def read_opts(opts, live) do
    %{
      offset: to_string(Keyword.get(opts, :offset, "-1")),
      live: live_name(live),
      cursor: opts[:cursor],
      timeout_ms: nil,
      headers: Client.pairs(opts[:headers])
    }
  end

  @doc false
  def live_name(false), do: "off"
  def live_name(nil), do: "off"
  def live_name(true), do: "auto"
  def live_name(mode) when is_atom(mode), do: Atom.to_string(mode)
  def live_name(mode) when is_binary(mode), do: mode

  @doc false
  def run(%__MODULE__{client: c}, start), do: start |> Native.call() |> Error.wrap(c.errors)
end
