/**
 * What a load worker and the orchestrator say to each other. The worker may
 * first say it is `ready` (loaded, connected, its data prepared) and then wait
 * for `go`, so that the orchestrator can take its "before" samples (memory)
 * once the worker's own start-up is behind it; it says `measuring` when the
 * measured window opens, `phase` when a stage of it begins, and ends with
 * `result` or `failed`.
 */
export type WorkerMessage<R> =
  | { readonly kind: 'ready' }
  | { readonly kind: 'measuring' }
  | { readonly kind: 'phase'; readonly name: string }
  | { readonly kind: 'result'; readonly result: R }
  | { readonly kind: 'failed'; readonly error: string };

/** From the orchestrator to a worker that said `ready`. */
export interface GoMessage {
  readonly kind: 'go';
}
