/** The gateway suite's own part of the Markdown report: CPU per request, targets, where the time goes. */
import type { ScenarioReport } from '../report.js';
import { pct } from '../transfers/format.js';
import type { GatewaySection } from './suite.js';

export function gatewayMarkdown(scenarios: readonly ScenarioReport[], section: GatewaySection): string[] {
  const byId = new Map(scenarios.map((s) => [s.id, s]));
  const lines = [
    '### Servers\u2019 CPU per request',
    '',
    'Main-thread milliseconds per answered request (server busy × window ÷ requests): every server of the ' +
      'process (the gateway, the auth service and its audit-log consumer, the bus; PGlite too, with it), ' +
      'whichever side paced the loop. **Left behind**: main-thread time after the window until the mesh fell ' +
      'quiet (below 15 % busy), per request of the window — work the requests queued and the servers did later ' +
      '(the audit log appending the records of signed calls). The ceiling counts both: what one core could serve ' +
      'for good.',
    '',
    '| | scenario | server ms per request | left behind, ms per request | quiet after | one core\u2019s ceiling, req/s | other load |',
    '|---|---|--:|--:|--:|--:|--:|',
  ];
  for (const cost of section.costs) {
    const s = byId.get(cost.id);
    const value = cost.serverMsPerRequest;
    const total = value === null ? null : value + (cost.deferredMsPerRequest ?? 0);
    lines.push(
      `| (${cost.id}) | ${s?.title ?? ''} | ${value === null ? '—' : value.toFixed(3)} | ` +
        `${cost.deferredMsPerRequest === null ? '—' : cost.deferredMsPerRequest.toFixed(3)} | ` +
        `${(cost.settleMs / 1000).toFixed(1)} s | ` +
        `${total === null || total <= 0 ? '—' : Math.round(1000 / total).toLocaleString('en')} | ` +
        `${s?.otherLoad === null || s?.otherLoad === undefined ? '—' : pct(s.otherLoad)} |`,
    );
  }
  lines.push('', '### Targets', '', '| target | wanted | measured | verdict |', '|---|---|--:|---|');
  for (const t of section.targets) {
    lines.push(
      `| ${t.what} | ${t.target} | ${t.measured} | ${t.met === null ? 'not measured' : t.met ? '**met**' : '**not met**'} |`,
    );
  }
  if (section.profiles.length > 0) {
    lines.push(
      '',
      '### Where the time goes',
      '',
      'A CPU profile of the main thread (1 ms sampling) over a separate window of the signed read, after the ' +
        'measured scenarios (its own cost is in it, so its request count is not a measurement). Each sample is ' +
        'billed to the part of the path whose code is nearest the top of the stack: Node.js internals and native ' +
        'code (an HMAC, a socket write) to the JavaScript that called them, bus calls to what made them (the nonce ' +
        'claim, the audit record); only what no project or package frame calls (the HTTP parsers and HTTP/2 sessions ' +
        'reading sockets) is billed to Node.js itself. See `bench/gateway/profile.ts`.',
    );
    for (const p of section.profiles) {
      const perRequest = p.requests > 0 ? p.busyMs / p.requests : Number.NaN;
      lines.push(
        '',
        `**(${p.id})** ${p.title}: ${p.requests.toLocaleString('en')} requests, ${Math.round(p.busyMs)} ms busy ` +
          `(${Number.isFinite(perRequest) ? perRequest.toFixed(3) : '—'} ms per request), other load ${pct(p.otherLoad)}.`,
        '',
        '| part | ms | share | µs per request |',
        '|---|--:|--:|--:|',
        ...p.parts
          .filter((part) => part.share >= 0.005)
          .map(
            (part) =>
              `| ${part.part} | ${Math.round(part.ms)} | ${pct(part.share)} | ` +
              `${p.requests > 0 ? Math.round((part.ms * 1000) / p.requests) : '—'} |`,
          ),
      );
    }
  }
  return lines;
}
