defmodule DurableStreams.Client do
  @moduledoc """
  A client for one Durable Streams server: base URL, default headers, retry policy
  and pooled connections (all held by the Rust core).

      client = DurableStreams.Client.new("http://localhost:8080")
      stream = DurableStreams.Client.stream(client, "/events")

  Options: `:headers` (a map or list of `{name, value}` sent on every request),
  `:errors` (`:reason`, the default: `{:error, reason}` as in `DurableStreams.Error`;
  `:struct`: `{:error, %DurableStreams.Error{}}`), and for tests and adapters
  `:dynamic_headers` / `:dynamic_params` (`{name, :counter | :timestamp | {:token, value}}`)
  and `:append_retry` (`:when_unprocessed`, the default, or `:at_least_once`);
  `:request_timeout` / `:live_idle_timeout` (ms) and `:max_retries` (nil: the core's defaults).
  """
  alias DurableStreams.Native

  defstruct [:base_url, :ref, errors: :reason]

  @type t :: %__MODULE__{}

  @spec new(String.t(), keyword) :: t
  def new(base_url, opts \\ []) do
    native_opts = %{
      headers: pairs(opts[:headers]),
      dynamic_headers: dynamic(opts[:dynamic_headers]),
      dynamic_params: dynamic(opts[:dynamic_params]),
      append_retry: opts[:append_retry] && to_string(opts[:append_retry]),
      request_timeout_ms: opts[:request_timeout],
      live_idle_timeout_ms: opts[:live_idle_timeout],
      max_retries: opts[:max_retries]
    }

    case Native.client_new(base_url, native_opts) do
      {:ok, ref} -> %__MODULE__{base_url: base_url, ref: ref, errors: Keyword.get(opts, :errors, :reason)}
      {:error, e} -> raise ArgumentError, e.message
    end
  end

  @doc "A handle on the stream at `path` (no network I/O)."
  @spec stream(t, String.t()) :: DurableStreams.Stream.t()
  def stream(%__MODULE__{} = client, path) do
    case Native.stream_new(client.ref, path, nil) do
      {:ok, ref} -> %DurableStreams.Stream{client: client, path: path, ref: ref}
      {:error, e} -> raise ArgumentError, e.message
    end
  end

  @doc false
  def pairs(nil), do: []
  def pairs(h), do: Enum.map(h, fn {k, v} -> {to_string(k), to_string(v)} end)

  defp dynamic(nil), do: []

  defp dynamic(list) do
    Enum.map(list, fn
      {name, {:token, v}} -> {to_string(name), "token", v}
      {name, kind} -> {to_string(name), to_string(kind), nil}
    end)
  end
end
