defmodule DurableStreams.Chunk do
  @moduledoc """
  One batch read from a stream: `data` (the raw bytes; for JSON streams the JSON array
  of the batch's messages), `messages` (JSON streams: the messages already decoded,
  otherwise `nil`), `next_offset` (resume here), `up_to_date`, `stream_closed`,
  `cursor` and the HTTP `status` of the response.
  """
  defstruct data: "", messages: nil, next_offset: nil, up_to_date: false, stream_closed: false, cursor: nil, status: 200
end
