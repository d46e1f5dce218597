// Error classes shared by the runner modules.

/** A step failed for a runner-level reason (undefined variable, failed
 *  assert, failed inject-error, network failure of a runner HTTP call, ...). */
export class StepError extends Error {}

/** A step's `expect` block (or a structural result check) did not hold. */
export class ExpectationError extends Error {}

/** The adapter process misbehaved: timeout, exit, unparsable reply, spawn
 *  failure. `kind` is one of "timeout", "exit", "protocol", "spawn". */
export class AdapterFailure extends Error {
  constructor(kind, message) {
    super(message)
    this.kind = kind
  }
}

/** Unrecoverable: the adapter could not be (re)started. Aborts the run. */
export class FatalError extends Error {}
