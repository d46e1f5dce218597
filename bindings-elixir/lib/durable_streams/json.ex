defmodule DurableStreams.JSON do
  @moduledoc """
  JSON without a JSON library: decoding and encoding run in the NIF (serde_json).
  Objects decode to maps with string keys; `null` is `nil`. Documents above 64 KiB are
  decoded on a dirty CPU scheduler.
  """
  alias DurableStreams.Native

  @dirty_above 64 * 1024

  @spec decode(binary) :: {:ok, term} | {:error, String.t()}
  def decode(text) when byte_size(text) > @dirty_above, do: Native.json_decode_dirty(text)
  def decode(text) when is_binary(text), do: Native.json_decode(text)

  def decode!(text) do
    case decode(text) do
      {:ok, v} -> v
      {:error, msg} -> raise ArgumentError, "invalid JSON: " <> msg
    end
  end

  @spec encode(term) :: {:ok, String.t()} | {:error, String.t()}
  def encode(term), do: Native.json_encode(term)

  def encode!(term) do
    case encode(term) do
      {:ok, v} -> v
      {:error, msg} -> raise ArgumentError, "cannot encode as JSON: " <> msg
    end
  end
end
