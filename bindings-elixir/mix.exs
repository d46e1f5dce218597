defmodule DurableStreams.MixProject do
  use Mix.Project

  def project do
    [
      app: :durable_streams_sdk,
      version: "0.1.0",
      elixir: "~> 1.14",
      elixirc_paths: ["lib", "conformance"],
      compilers: [:ds_nif] ++ Mix.compilers(),
      start_permanent: Mix.env() == :prod,
      deps: []
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end
end

defmodule Mix.Tasks.Compile.DsNif do
  @moduledoc "Builds the NIF with cargo (as part of the workspace) and copies it into priv/."
  use Mix.Task.Compiler

  @impl true
  def run(_args) do
    root = Path.expand("..", __DIR__)
    target = System.get_env("CARGO_TARGET_DIR") || Path.join(root, "target")

    if System.get_env("DS_SKIP_CARGO") != "1" do
      {_, 0} =
        System.cmd("cargo", ["build", "--quiet", "-p", "durable-streams-elixir"],
          cd: root,
          into: IO.stream(:stdio, :line),
          stderr_to_stdout: true
        )
    end

    so = Path.join([target, "debug", "libdurable_streams_nif.so"])
    dest = Path.join([__DIR__, "priv", "native", "libdurable_streams_nif.so"])
    File.mkdir_p!(Path.dirname(dest))
    # With DS_SKIP_CARGO=1 (the benchmark loads a release build through DS_NIF_PATH) a
    # missing debug build is not an error.
    if File.exists?(so) or System.get_env("DS_SKIP_CARGO") != "1", do: File.cp!(so, dest)
    {:ok, []}
  end
end
