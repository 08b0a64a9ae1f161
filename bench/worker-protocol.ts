/**
 * What a load worker and the orchestrator say to each other. The worker may
 * first say it is `ready` (loaded, connected, its data prepared) and then wait
 * for `go`, so that the orchestrator can take its "before" samples (memory)
 * once the worker's own start-up is behind it; it says `measuring` when the
 * measured window opens, `phase` when a stage of it begins, and ends with
 * `result` or `failed`.
 *
 * A load may also run in a child process instead of a thread (worker.ts,
 * `runInChild`): the same messages then travel over the IPC channel, after a
 * first `spec` message from the orchestrator, and each `phase` carries the
 * child's CPU time so far, which the orchestrator must not count as another
 * process's load.
 */
export type WorkerMessage<R> =
  | { readonly kind: 'ready' }
  | { readonly kind: 'measuring' }
  | { readonly kind: 'phase'; readonly name: string; readonly cpuMs: number }
  | { readonly kind: 'result'; readonly result: R }
  | { readonly kind: 'failed'; readonly error: string };

/** From the orchestrator: the spec (to a child process only), then `go` to a worker that said `ready`. */
export type OrchestratorMessage = { readonly kind: 'spec'; readonly spec: unknown } | { readonly kind: 'go' };

/** Set in a child process's environment: the module is to serve the protocol over IPC. */
export const CHILD_ENV = 'LGSP_BENCH_CHILD';
