/**
 * The seam between Subscribe and presence (Art. 5.9): an app is online while
 * it holds a Subscribe stream. Subscribe calls `streamOpened` once a stream
 * is accepted (validated and registered on the hub, before its first
 * message), and the function it returns exactly once when the stream ends.
 * Presence (domain/presence*.ts) provides the implementation through the
 * context (`NotificationContext.streamHooks`); until then nothing happens.
 *
 * A hook must not throw for presence's own trouble (a KV outage): the stream
 * works without presence. If `streamOpened` throws anyway, the stream is
 * refused with that error.
 */
import type { HandlerContext } from '@connectrpc/connect';

export interface OpenedStream {
  /** The subscribing app. */
  readonly appId: string;
  /** Its unit code, as the gateway verified it. */
  readonly unitCode: string;
  /** The client's clock when it subscribed (SubscribeRequest.client_time), for its clock skew. */
  readonly clientTime: Date | undefined;
  /** When the server accepted the stream. */
  readonly openedAt: Date;
  /** The request id of the Subscribe call. */
  readonly requestId: string;
  /** The call itself, for anything else presence wants (headers). */
  readonly handlerContext: HandlerContext;
}

/**
 * Why a stream ended: the client went away (cancelled, disconnected: the
 * server cannot tell which), the server closed it (shutdown, drain), the app
 * was disabled in the registry, or it failed (an error answered to the client).
 */
export type StreamEnd = 'client_gone' | 'server_closed' | 'app_disabled' | 'failed';

export interface StreamHooks {
  streamOpened(stream: OpenedStream): Promise<(end: StreamEnd) => Promise<void>>;
}

/** No presence: streams open and close without telling anyone. */
export const noStreamHooks: StreamHooks = {
  streamOpened: async () => async () => {},
};
