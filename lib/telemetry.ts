/**
 * OpenTelemetry for the whole process: one meter provider read by a
 * Prometheus endpoint (`/metrics` on every port the process serves), one
 * tracer provider with W3C trace context, exporting over OTLP/HTTP when
 * `OTEL_EXPORTER_OTLP_ENDPOINT` is set. In the embedded mode several services
 * share the process, hence one initialisation for all of them.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { context, metrics, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { HttpRoute } from './rpc/server.js';

interface TelemetryState {
  readonly exporter: PrometheusExporter;
  readonly meterProvider: MeterProvider;
  readonly tracerProvider: NodeTracerProvider;
}

let state: TelemetryState | undefined;

/**
 * Sets up the process-wide providers once; later calls return the same state.
 * `spanProcessors` are added to the OTLP exporter's (tests pass an in-memory one).
 */
export function initTelemetry(
  serviceName: string,
  env: NodeJS.ProcessEnv = process.env,
  extraSpanProcessors: readonly SpanProcessor[] = [],
): TelemetryState {
  if (state !== undefined) return state;
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: env['OTEL_SERVICE_NAME'] ?? `lgsp-${serviceName}`,
  });
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ resource, readers: [exporter] });
  metrics.setGlobalMeterProvider(meterProvider);
  const spanProcessors: SpanProcessor[] = [...extraSpanProcessors];
  if (env['OTEL_EXPORTER_OTLP_ENDPOINT'] !== undefined) {
    spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter()));
  }
  const tracerProvider = new NodeTracerProvider({ resource, spanProcessors });
  tracerProvider.register();
  state = { exporter, meterProvider, tracerProvider };
  return state;
}

export async function shutdownTelemetry(): Promise<void> {
  const current = state;
  state = undefined;
  if (current === undefined) return;
  await Promise.allSettled([current.meterProvider.shutdown(), current.tracerProvider.shutdown()]);
}

export const metricsRoute: HttpRoute = (req, res) => {
  if (state === undefined) {
    res.writeHead(503);
    res.end();
    return;
  }
  // The exporter only reads the response API common to HTTP/1.1 and HTTP/2.
  state.exporter.getMetricsRequestHandler(req as never, res as never);
};

/**
 * Counts every RPC by method and final code, times it, and runs it inside a
 * server span that continues the caller's trace.
 */
export function rpcTelemetryInterceptor(serviceName: string): Interceptor {
  const meter = metrics.getMeter(`lgsp.${serviceName}`);
  const requests = meter.createCounter('lgsp_rpc_server_requests', {
    description: 'RPCs handled, by method and status code',
  });
  const duration = meter.createHistogram('lgsp_rpc_server_duration_seconds', {
    description: 'Time to answer an RPC (until the response headers for streams)',
    unit: 's',
    advice: {
      explicitBucketBoundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    },
  });
  const tracer = trace.getTracer(`lgsp.${serviceName}`);
  return (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const parent = propagation.extract(context.active(), req.header, {
      get: (carrier, key) => carrier.get(key) ?? undefined,
      keys: (carrier) => [...carrier.keys()],
    });
    const span = tracer.startSpan(
      method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'rpc.system': 'connect_rpc',
          'rpc.service': req.service.typeName,
          'rpc.method': req.method.name,
        },
      },
      parent,
    );
    const started = performance.now();
    let code = 'ok';
    try {
      return await context.with(trace.setSpan(parent, span), () => next(req));
    } catch (error) {
      const status = error instanceof ConnectError ? error.code : Code.Unknown;
      code = codeName(status);
      span.setStatus({ code: SpanStatusCode.ERROR, message: code });
      throw error;
    } finally {
      span.setAttribute('rpc.connect_rpc.error_code', code);
      span.end();
      const labels = { method, code };
      requests.add(1, labels);
      duration.record((performance.now() - started) / 1000, labels);
    }
  };
}

/** `InvalidArgument` → `invalid_argument`, as the Connect protocol spells codes. */
export function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}
