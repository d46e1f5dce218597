defmodule DurableStreams.Error do
  @moduledoc """
  Errors. Every operation returns `{:ok, result}` or `{:error, reason}`; `reason/1`
  is the one place where the core's error table becomes the reasons Elixir code
  matches on:

  | core code | reason |
  | --- | --- |
  | `NOT_FOUND` | `:not_found` |
  | `GONE` | `{:gone, earliest_offset}` |
  | `STALE_EPOCH` | `{:stale_epoch, server_epoch}` |
  | `SEQUENCE_GAP` | `{:sequence_gap, expected, received}` |
  | `STREAM_CLOSED` | `:stream_closed` |
  | `CONFLICT`, `SEQUENCE_CONFLICT`, `CONTENT_TYPE_MISMATCH` | `{:conflict, message}` |
  | `BAD_REQUEST`, `INVALID_OFFSET` | `{:bad_request, message}` |
  | `RATE_LIMITED` | `{:rate_limited, retry_after_ms}` |
  | `INVALID_ARGUMENT` | `{:invalid_argument, option, message}` |
  | `UNEXPECTED_STATUS` | `{:unexpected_status, status}` |
  | any other code | `{code as a lower-case atom, message}` (e.g. `{:network_error, "..."}`) |

  A client created with `errors: :struct` gets `{:error, %DurableStreams.Error{}}`
  instead (code, status, message and every detail of the core's flat record).
  """

  defexception [:code, :class, :conformance_code, :message, :status, :transient, details: %{}]

  @detail_keys [:next_offset, :earliest_offset, :current_epoch, :expected_seq, :received_seq,
                :retry_after_ms, :field, :server_message, :cause]

  @doc false
  def from_native(%{code: code} = m) do
    %__MODULE__{
      code: code,
      class: m.class,
      conformance_code: m.conformance_code,
      message: m.message,
      status: m.status,
      transient: m.transient,
      details: m |> Map.take(@detail_keys) |> Enum.reject(fn {_, v} -> is_nil(v) end) |> Map.new()
    }
  end

  @doc "The seed client's reason for an error (see the table above)."
  def reason(%__MODULE__{code: code, message: msg, details: d, status: status}) do
    case code do
      "NOT_FOUND" -> :not_found
      "GONE" -> {:gone, d[:earliest_offset]}
      "STALE_EPOCH" -> {:stale_epoch, d[:current_epoch]}
      "SEQUENCE_GAP" -> {:sequence_gap, d[:expected_seq], d[:received_seq]}
      "STREAM_CLOSED" -> :stream_closed
      c when c in ["CONFLICT", "SEQUENCE_CONFLICT", "CONTENT_TYPE_MISMATCH"] -> {:conflict, msg}
      c when c in ["BAD_REQUEST", "INVALID_OFFSET"] -> {:bad_request, d[:server_message] || msg}
      "RATE_LIMITED" -> {:rate_limited, d[:retry_after_ms]}
      "INVALID_ARGUMENT" -> {:invalid_argument, d[:field], msg}
      "UNEXPECTED_STATUS" -> {:unexpected_status, status}
      other -> {other |> String.downcase() |> String.to_atom(), msg}
    end
  end

  @doc false
  # `{:error, native_map}` → `{:error, reason}` (or the struct, per the client's option).
  def wrap({:ok, _} = ok, _mode), do: ok
  def wrap({:error, %{code: _} = m}, mode), do: {:error, shape(from_native(m), mode)}
  def wrap(other, _mode), do: other

  @doc false
  def shape(e, :struct), do: e
  def shape(e, _), do: reason(e)
end
