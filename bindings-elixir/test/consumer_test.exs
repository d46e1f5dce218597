defmodule DurableStreams.ConsumerTest do
  use DS.Case, async: true

  defmodule MyApp.Repo do
    # Where the seed's example persists offsets: an Agent named per test.
    def start(name), do: Agent.start_link(fn -> nil end, name: name)
    def save_offset(name, o), do: Agent.update(name, fn _ -> o end)
    def load_offset(name), do: Agent.get(name, & &1)
  end

  defmodule MyApp.EventConsumer do
    @behaviour DurableStreams.Consumer
    require Logger

    @impl true
    def init(%{test: pid, repo: repo}), do: {:ok, %{processed: 0, test: pid, repo: repo}}

    @impl true
    def handle_batch(batch, state) do
      # batch.data - the raw binary data; batch.next_offset; batch.up_to_date
      events = DurableStreams.JSON.decode!(batch.data)
      Enum.each(events, &send(state.test, {:event, self(), &1}))
      MyApp.Repo.save_offset(state.repo, batch.next_offset)
      {:ok, %{state | processed: state.processed + 1}}
    end

    @impl true
    def handle_error(error, state) do
      Logger.warning("Consumer error: #{inspect(error)}")
      send(state.test, {:consumer_error, error})
      {:reconnect, state}
    end
  end

  defp json_stream(prefix) do
    stream = Client.stream(Client.new(url()), unique(prefix))
    {:ok, stream} = Stream.create(stream, content_type: "application/json")
    stream
  end

  defp append!(stream, i), do: {:ok, _} = Stream.append(stream, ~s({"i":#{i}}))

  defp collect(n, acc \\ []) do
    if length(acc) == n do
      Enum.reverse(acc)
    else
      receive do
        {:event, _pid, %{"i" => i}} -> collect(n, [i | acc])
      after
        10_000 -> flunk("got #{inspect(Enum.reverse(acc))}, expected #{n} events")
      end
    end
  end

  test "long-running consumer (seed README): start_link, then in a supervision tree" do
    stream = json_stream("consumer")
    repo = :"repo_#{System.unique_integer([:positive])}"
    {:ok, _} = MyApp.Repo.start(repo)
    for i <- 1..3, do: append!(stream, i)

    {:ok, consumer} = DurableStreams.Consumer.start_link(
      stream: stream,
      callback: {MyApp.EventConsumer, %{test: self(), repo: repo}},
      live: :long_poll,
      offset: MyApp.Repo.load_offset(repo) || "-1"
    )
    assert collect(3) == [1, 2, 3]
    append!(stream, 4)
    assert collect(1) == [4]
    assert DurableStreams.Consumer.checkpoint(consumer) == MyApp.Repo.load_offset(repo)
    :ok = DurableStreams.Consumer.stop(consumer)

    name = :"consumer_#{System.unique_integer([:positive])}"
    children = [
      {DurableStreams.Consumer,
        stream: stream,
        callback: {MyApp.EventConsumer, %{test: self(), repo: repo}},
        live: :long_poll,
        offset: "-1",
        name: name}
    ]
    {:ok, sup} = Supervisor.start_link(children, strategy: :one_for_one)
    assert collect(4) == [1, 2, 3, 4]
    assert Process.whereis(name)
    Supervisor.stop(sup)
  end

  test "an SSE consumer receives batches while the connection stays open" do
    stream = json_stream("sse")
    repo = :"repo_#{System.unique_integer([:positive])}"
    {:ok, _} = MyApp.Repo.start(repo)
    {:ok, c} = Consumer.start_link(stream: stream, callback: {MyApp.EventConsumer, %{test: self(), repo: repo}}, live: :sse)
    # Each event arrives while the one SSE response is still open (no reconnect, no error).
    for i <- 1..10 do
      append!(stream, i)
      assert collect(1) == [i]
      Process.sleep(50)
    end
    refute_received {:consumer_error, _}
    Consumer.stop(c)
  end

  test "a consumer killed and restarted by its supervisor resumes from the checkpoint" do
    stream = json_stream("resume")
    repo = :"repo_#{System.unique_integer([:positive])}"
    {:ok, _} = MyApp.Repo.start(repo)
    for i <- 1..5, do: append!(stream, i)
    name = :"resume_#{System.unique_integer([:positive])}"

    children = [
      {Consumer,
        stream: stream,
        callback: {MyApp.EventConsumer, %{test: self(), repo: repo}},
        offset: fn -> MyApp.Repo.load_offset(repo) || "-1" end,
        name: name}
    ]
    {:ok, sup} = Supervisor.start_link(children, strategy: :one_for_one)
    assert collect(5) == [1, 2, 3, 4, 5]
    first = Process.whereis(name)
    Process.exit(first, :kill)
    # Restarted under the same name by the supervisor.
    restarted = wait_for_restart(name, first)
    assert restarted != first
    for i <- 6..8, do: append!(stream, i)
    # Only what came after the checkpoint: nothing from 1..5 again.
    assert collect(3) == [6, 7, 8]
    refute_receive {:event, _, _}, 300
    Supervisor.stop(sup)
  end

  test "handle_error sees the seed's reasons" do
    stream = Client.stream(Client.new(url()), unique("absent"))
    repo = :"repo_#{System.unique_integer([:positive])}"
    {:ok, _} = MyApp.Repo.start(repo)
    {:ok, c} = Consumer.start_link(stream: stream, callback: {MyApp.EventConsumer, %{test: self(), repo: repo}}, backoff_base: 50, backoff_max: 100)
    assert_receive {:consumer_error, :not_found}, 5_000
    Consumer.stop(c)
  end

  defp wait_for_restart(name, old, tries \\ 100) do
    case Process.whereis(name) do
      pid when is_pid(pid) and pid != old -> pid
      _ when tries > 0 -> Process.sleep(20); wait_for_restart(name, old, tries - 1)
      _ -> flunk("not restarted")
    end
  end
end
