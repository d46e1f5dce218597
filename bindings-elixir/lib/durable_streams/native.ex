defmodule DurableStreams.Native do
  @moduledoc false
  # The Rust NIF (bindings-elixir/native). Network calls return a task resource at
  # once and answer with `{:ds_reply, ref, result}`; `call/1` waits for that message,
  # keeping the task resource referenced until then (collecting it aborts the work).

  @on_load :load
  def load do
    path =
      System.get_env("DS_NIF_PATH") ||
        Path.join([:code.priv_dir(:durable_streams_sdk), "native", "libdurable_streams_nif"])

    :erlang.load_nif(String.to_charlist(path), 0)
  end

  @doc false
  def call(start) do
    ref = make_ref()
    task = start.(ref)

    receive do
      {:ds_reply, ^ref, result} ->
        task_done(task)
        result
    end
  end

  @doc false
  def call(start, timeout) do
    ref = make_ref()
    task = start.(ref)

    receive do
      {:ds_reply, ^ref, result} ->
        task_done(task)
        result
    after
      timeout ->
        task_done(task)
        :timeout
    end
  end

  defp nif, do: :erlang.nif_error(:nif_not_loaded)

  def client_new(_url, _opts), do: nif()
  def stream_new(_client, _path, _ct), do: nif()
  def stream_content_type(_s), do: nif()
  def task_done(_t), do: nif()
  def create(_s, _ref, _opts), do: nif()
  def append(_s, _ref, _data, _opts), do: nif()
  def head(_s, _ref, _headers), do: nif()
  def delete(_s, _ref, _headers), do: nif()
  def close(_s, _ref, _data, _ct), do: nif()
  def read_once(_s, _ref, _opts), do: nif()
  def read_all(_s, _ref, _offset), do: nif()
  def read_open(_s, _opts), do: nif()
  def read_next(_r, _ref), do: nif()
  def read_position(_r), do: nif()
  def read_cancel(_r), do: nif()
  def producer_start(_s, _opts, _notify), do: nif()
  def producer_enqueue(_p, _msgs, _want_ack, _ref), do: nif()
  def producer_flush(_p, _ref), do: nif()
  def producer_close(_p, _ref, _data), do: nif()
  def producer_detach(_p, _ref), do: nif()
  def producer_epoch(_p), do: nif()
  def consumer_open(_s, _opts), do: nif()
  def consumer_next(_c, _ref), do: nif()
  def consumer_cancel(_c), do: nif()
  def error_table, do: nif()
  def live_operations, do: nif()
  def validate_producer(_opts), do: nif()
  def validate_retry(_a, _b, _c, _d), do: nif()
  def json_decode(_b), do: nif()
  def json_decode_dirty(_b), do: nif()
  def json_encode(_t), do: nif()
end
