/**
 * The API reference as one self-contained HTML page (no script, no external
 * resource), rendered from the OpenAPI document alone: services and their
 * RPCs with access level, description, request and response fields and a
 * curl example, then every type, then the errors.
 */
import type { Schema } from './schemas.js';

type Obj = Record<string, unknown>;

const SCHEMA_PREFIX = '#/components/schemas/';

const obj = (value: unknown): Obj => (value !== null && typeof value === 'object' ? (value as Obj) : {});
const str = (value: unknown): string => (typeof value === 'string' ? value : '');

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Anchor ids: letters, digits, dots, dashes and underscores only. */
const anchor = (kind: string, name: string): string => `${kind}-${name.replace(/[^A-Za-z0-9._-]/g, '_')}`;

/** The little Markdown the descriptions use: paragraphs, "- " lists, `code`, **strong**. */
function prose(text: string): string {
  const blocks = text.split(/\n\s*\n/).filter((block) => block.trim() !== '');
  return blocks
    .map((block) => {
      const lines = block.split('\n');
      if (lines.every((line) => line.startsWith('- '))) {
        return `<ul>${lines.map((line) => `<li>${inline(line.slice(2))}</li>`).join('')}</ul>`;
      }
      return `<p>${inline(lines.join(' '))}</p>`;
    })
    .join('\n');
}

function inline(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
}

const shortName = (typeName: string): string => typeName.slice(typeName.lastIndexOf('.') + 1);

/** A field's type, linked to the type's entry. */
function typeHtml(schema: Obj): string {
  const ref = str(schema['$ref']);
  if (ref.startsWith(SCHEMA_PREFIX)) {
    const name = ref.slice(SCHEMA_PREFIX.length);
    return `<a href="#${anchor('type', name)}" title="${escapeHtml(name)}">${escapeHtml(shortName(name))}</a>`;
  }
  const type = str(schema['type']);
  if (type === 'array') return `array of ${typeHtml(obj(schema['items']))}`;
  if (type === 'object' && typeof schema['additionalProperties'] === 'object') {
    return `map of string to ${typeHtml(obj(schema['additionalProperties']))}`;
  }
  const format = str(schema['format']);
  if (format === 'int64' || format === 'uint64') return `${format} <span class="note">(string)</span>`;
  if (format === 'byte') return 'bytes <span class="note">(base64)</span>';
  if (format === 'date-time') return 'timestamp <span class="note">(RFC 3339)</span>';
  if (format !== '') return escapeHtml(format);
  if (type === '' && Array.isArray(schema['anyOf'])) {
    return (schema['anyOf'] as unknown[]).map((member) => typeHtml(obj(member))).join(' or ');
  }
  return escapeHtml(type === '' ? 'any' : type);
}

function fieldsTable(schema: Obj): string {
  const properties = obj(schema['properties']);
  const names = Object.keys(properties);
  if (names.length === 0) return '<p class="note">No fields: send <code>{}</code>.</p>';
  const rows = names.map((name) => {
    const field = obj(properties[name]);
    const flags = field['deprecated'] === true ? ' <span class="badge deprecated">deprecated</span>' : '';
    return `<tr><td><code>${escapeHtml(name)}</code>${flags}</td><td>${typeHtml(field)}</td><td>${prose(str(field['description']))}</td></tr>`;
  });
  return `<table class="fields"><thead><tr><th>Field</th><th>Type</th><th>Description</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function enumTable(schema: Obj): string {
  const values = Array.isArray(schema['x-lgsp-enum-values']) ? (schema['x-lgsp-enum-values'] as Obj[]) : [];
  const rows = values.map(
    (value) =>
      `<tr><td><code>${escapeHtml(str(value['name']))}</code></td><td>${String(value['number'])}</td><td>${prose(str(value['description']))}</td></tr>`,
  );
  return `<table class="fields"><thead><tr><th>Value</th><th>Number</th><th>Description</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function schemaOf(doc: Obj, ref: unknown): { name: string; schema: Obj } {
  const name = str(ref).slice(SCHEMA_PREFIX.length);
  return { name, schema: obj(obj(obj(doc['components'])['schemas'])[name]) };
}

function messageBlock(doc: Obj, label: string, media: Obj, contentType: string): string {
  const { name, schema } = schemaOf(doc, obj(media['schema'])['$ref']);
  return `<h4>${label}: <a href="#${anchor('type', name)}"><code>${escapeHtml(name)}</code></a> <span class="note">${escapeHtml(contentType)}</span></h4>${fieldsTable(schema)}`;
}

const SIGNED_HEADERS = [
  `-H "lgsp-key-id: $LGSP_ACCESS_KEY_ID" -H 'lgsp-algorithm: HMAC-SHA256' \\`,
  `-H "lgsp-timestamp: $TIMESTAMP" -H "lgsp-nonce: $NONCE" \\`,
  `-H "lgsp-content-sha256: $DIGEST" -H "lgsp-signature: $SIGNATURE" \\`,
];

/** A shell example of the call, with the helpers of the "Calling" section. */
export function curlExample(path: string, kind: string, access: string, example: unknown): string {
  const json = JSON.stringify(example ?? {});
  const signed = access !== 'PUBLIC';
  const lines: string[] = [];
  if (kind === 'unary') {
    if (!signed) {
      lines.push(
        `curl -sS -X POST "$LGSP_URL${path}" \\`,
        `  -H 'content-type: application/json' \\`,
        `  --data-binary '${json}'`,
      );
      return lines.join('\n');
    }
    lines.push(`printf '%s' '${json}' > body.json`, `sign ${path} body.json`);
    lines.push(`curl -sS -X POST "$LGSP_URL${path}" -H 'content-type: application/json' \\`);
    lines.push(...SIGNED_HEADERS.map((line) => `  ${line}`), '  --data-binary @body.json');
    lines.push('', '# or, with the shell client:', `clients/shell/lgsp-call ${path.slice(1)} '${json}'`);
    return lines.join('\n');
  }
  if (kind === 'server_streaming') {
    lines.push(`envelope '${json}' > body.bin`);
    if (signed) lines.push(`sign ${path} body.bin`);
    lines.push(`curl -sS -N -X POST "$LGSP_URL${path}" -H 'content-type: application/connect+json' \\`);
  } else {
    lines.push(
      '# one envelope per request message, in order',
      `{ envelope '${json}'; envelope '...'; } > body.bin`,
    );
    if (signed) lines.push(`sign ${path} -   # a streamed upload is not hashed`);
    lines.push(`curl -sS -X POST "$LGSP_URL${path}" -H 'content-type: application/connect+json' \\`);
  }
  if (signed) lines.push(...SIGNED_HEADERS.map((line) => `  ${line}`));
  lines.push('  --data-binary @body.bin | messages');
  return lines.join('\n');
}

const HELPERS = `LGSP_URL=\${LGSP_URL:-http://127.0.0.1:8080}   # the gateway
# Signed calls: an HMAC credential in LGSP_ACCESS_KEY_ID and LGSP_SECRET_KEY.

# sign <path> <body file, or - for a streamed upload>: sets TIMESTAMP, NONCE, DIGEST and
# SIGNATURE for an HMAC-SHA256 signature (docs/auth.md).
sign() {
  TIMESTAMP=$(date -u +%Y-%m-%dT%H:%M:%SZ) NONCE=$(openssl rand -hex 16)
  if [ "$2" = - ]; then DIGEST=STREAMING-UNSIGNED-PAYLOAD
  else DIGEST=$(openssl dgst -sha256 -hex < "$2" | sed 's/^.*= //'); fi
  SIGNATURE=$(printf '%s\\n' HMAC-SHA256 "$LGSP_ACCESS_KEY_ID" "$TIMESTAMP" "$NONCE" POST "$1" "" "$DIGEST" |
    openssl dgst -sha256 -hmac "$LGSP_SECRET_KEY" -binary | openssl base64 -A)
}
# envelope <JSON>: one enveloped message of a Connect stream (flags 0, length, JSON).
envelope() { printf '\\0'; printf '%08x' "$(printf '%s' "$1" | wc -c)" | xxd -r -p; printf '%s' "$1"; }
# messages: a Connect stream answer on stdin, one JSON per line; the end message (flags 2) is last.
messages() {
  local head
  while head=$(dd bs=1 count=5 status=none | xxd -p) && [ \${#head} -eq 10 ]; do
    printf '%s\\n' "$(dd bs=1 count=$((16#\${head:2:8})) status=none)"
  done
}`;

const STYLE = `
:root { --fg: #1d2430; --muted: #5b6474; --line: #d9dee7; --bg: #ffffff; --soft: #f4f6fa; --accent: #0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 1.2rem 2rem; border-bottom: 1px solid var(--line); background: var(--soft); }
header h1 { margin: 0 0 .3rem; font-size: 1.6rem; }
.layout { display: grid; grid-template-columns: 18rem 1fr; }
nav { position: sticky; top: 0; align-self: start; max-height: 100vh; overflow-y: auto; padding: 1rem; border-right: 1px solid var(--line); font-size: .88rem; }
nav ul { list-style: none; margin: 0 0 .8rem; padding: 0 0 0 .6rem; }
nav > ul { padding: 0; }
nav a { color: var(--fg); text-decoration: none; }
nav a:hover { color: var(--accent); text-decoration: underline; }
main { padding: 1rem 2rem 4rem; min-width: 0; max-width: 72rem; }
h2 { margin-top: 2.5rem; padding-bottom: .3rem; border-bottom: 2px solid var(--line); }
h3 { margin: 0 0 .4rem; font-size: 1.15rem; }
h4 { margin: 1rem 0 .4rem; font-size: .95rem; }
a { color: var(--accent); }
code { font: .88em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--soft); padding: .05rem .25rem; border-radius: 3px; }
pre { background: #1f2430; color: #e6e9ef; padding: .8rem 1rem; border-radius: 6px; overflow-x: auto; font: .82rem/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre code { background: none; padding: 0; color: inherit; }
article.rpc, div.type { border: 1px solid var(--line); border-radius: 8px; padding: 1rem 1.2rem; margin: 1.2rem 0; }
.path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9rem; color: var(--muted); word-break: break-all; }
.badge { display: inline-block; font-size: .72rem; font-weight: 600; padding: .05rem .45rem; border-radius: 999px; border: 1px solid; vertical-align: middle; margin-left: .3rem; }
.access-PUBLIC { color: #1a7f37; } .access-APP { color: #0b5cad; } .access-UNIT_ADMIN { color: #9a6700; } .access-ADMIN { color: #b42318; }
.kind { color: #6e40c9; } .deprecated { color: #b42318; }
.note { color: var(--muted); font-weight: normal; font-size: .85em; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 .8rem; font-size: .9rem; }
th, td { text-align: left; vertical-align: top; border-bottom: 1px solid var(--line); padding: .35rem .5rem; }
th { background: var(--soft); font-weight: 600; }
td p { margin: 0 0 .3rem; } td ul { margin: 0; padding-left: 1.1rem; }
td:first-child { white-space: nowrap; }
@media (max-width: 900px) { .layout { display: block; } nav { position: static; max-height: none; border-right: 0; border-bottom: 1px solid var(--line); } }
`;

interface Rpc {
  readonly path: string;
  readonly op: Obj;
}

export function renderHtml(document: Schema): string {
  const doc = document as Obj;
  const info = obj(doc['info']);
  const tags = (Array.isArray(doc['tags']) ? doc['tags'] : []) as Obj[];
  const byTag = new Map<string, Rpc[]>();
  for (const [path, item] of Object.entries(obj(doc['paths']))) {
    const op = obj(obj(item)['post']);
    const tag = str((op['tags'] as unknown[] | undefined)?.[0]);
    byTag.set(tag, [...(byTag.get(tag) ?? []), { path, op }]);
  }
  const schemas = obj(obj(doc['components'])['schemas']);
  const title = escapeHtml(str(info['title']));

  const nav = tags
    .map((tag) => {
      const name = str(tag['name']);
      const items = (byTag.get(name) ?? [])
        .map(({ op }) => {
          const rpc = str(op['x-lgsp-rpc']);
          return `<li><a href="#${anchor('rpc', str(op['operationId']))}">${escapeHtml(rpc.slice(rpc.indexOf('/') + 1))}</a></li>`;
        })
        .join('');
      return `<li><a href="#${anchor('service', name)}"><strong>${escapeHtml(shortName(name))}</strong></a><ul>${items}</ul></li>`;
    })
    .join('');

  const services = tags
    .map((tag) => {
      const name = str(tag['name']);
      const rpcs = (byTag.get(name) ?? []).map((rpc) => rpcHtml(doc, rpc)).join('\n');
      return `<section id="${anchor('service', name)}"><h2>${escapeHtml(name)}</h2>${prose(str(tag['description']))}\n${rpcs}</section>`;
    })
    .join('\n');

  const types = Object.keys(schemas)
    .map((name) => {
      const schema = obj(schemas[name]);
      const isEnum = Array.isArray(schema['enum']) && schema['x-lgsp-enum-values'] !== undefined;
      const isMessage = schema['properties'] !== undefined;
      const description = isEnum
        ? prose(str(schema['description']).split('\n\nValues')[0] ?? '')
        : prose(str(schema['description']));
      const body = isEnum
        ? enumTable(schema)
        : isMessage
          ? fieldsTable(schema)
          : `<p>JSON: ${typeHtml(schema)}</p>`;
      const kind = isEnum ? 'enum' : isMessage ? 'message' : 'value';
      return `<div class="type" id="${anchor('type', name)}"><h3><code>${escapeHtml(name)}</code> <span class="note">${kind}</span></h3>${description}${body}</div>`;
    })
    .join('\n');

  const errors = obj(obj(obj(doc['components'])['responses'])['ConnectError']);

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${title}</h1><div class="note">Version ${escapeHtml(str(info['version']))} · ${Object.keys(obj(doc['paths'])).length} RPCs · generated from the Protobuf definitions · machine-readable: <a href="/openapi.json">OpenAPI 3.1 (JSON)</a></div></header>
<div class="layout">
<nav><ul><li><a href="#calling"><strong>Calling the API</strong></a></li><li><a href="#errors"><strong>Errors</strong></a></li>${nav}<li><a href="#types"><strong>Types</strong></a></li></ul></nav>
<main>
<section id="calling"><h2>Calling the API</h2>
${prose(str(info['description']))}
<p>The examples below use these shell helpers (bash, <code>curl</code>, <code>openssl</code>, <code>xxd</code>, <code>dd</code>):</p>
<pre><code>${escapeHtml(HELPERS)}</code></pre>
</section>
<section id="errors"><h2>Errors</h2>
${prose(str(errors['description']))}
<p>The body: ${typeHtml({ $ref: `${SCHEMA_PREFIX}connect.Error` })}, e.g.</p>
<pre><code>${escapeHtml(JSON.stringify(ERROR_EXAMPLE, null, 2))}</code></pre>
</section>
${services}
<section id="types"><h2>Types</h2>
${types}
</section>
</main>
</div>
</body>
</html>
`;
}

const ERROR_EXAMPLE = {
  code: 'not_found',
  message: 'no unit with code 000.00.99.H26',
  details: [
    {
      type: 'lgsp.common.v1.ErrorInfo',
      value: 'Cg5VTklUX05PVF9GT1VORBINcmVnaXN0cnkubGdzcA',
      debug: { reason: 'UNIT_NOT_FOUND', domain: 'registry.lgsp' },
    },
  ],
};

function rpcHtml(doc: Obj, { path, op }: Rpc): string {
  const rpc = str(op['x-lgsp-rpc']);
  const access = str(op['x-lgsp-access']);
  const kind = str(op['x-lgsp-method-kind']);
  const [requestType, requestMedia] = Object.entries(obj(obj(op['requestBody'])['content']))[0] ?? ['', {}];
  const ok = obj(obj(op['responses'])['200']);
  const [responseType, responseMedia] = Object.entries(obj(ok['content']))[0] ?? ['', {}];
  const kindBadge =
    kind === 'unary' ? '' : `<span class="badge kind">${escapeHtml(kind.replace('_', ' '))}</span>`;
  const deprecated = op['deprecated'] === true ? '<span class="badge deprecated">deprecated</span>' : '';
  const example = curlExample(path, kind, access, obj(requestMedia)['example']);
  return `<article class="rpc" id="${anchor('rpc', str(op['operationId']))}">
<h3>${escapeHtml(rpc.slice(rpc.indexOf('/') + 1))}<span class="badge access-${escapeHtml(access)}">${escapeHtml(access)}</span>${kindBadge}${deprecated}</h3>
<div class="path">POST ${escapeHtml(path)}</div>
${prose(str(op['description']))}
${messageBlock(doc, 'Request', obj(requestMedia), requestType)}
${messageBlock(doc, 'Response', obj(responseMedia), responseType)}
<h4>Example</h4>
<pre><code>${escapeHtml(example)}</code></pre>
</article>`;
}
