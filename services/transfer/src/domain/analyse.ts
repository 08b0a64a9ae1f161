/**
 * Content analysis at commit (Art. 8.4): does the content agree with its
 * declared protocol and media type? An edXML package's header is parsed and
 * its facts extracted (number, notation, dates, organs); opaque data is
 * checked by its media type's signature or syntax. Only header facts are
 * kept, never content.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { ProtocolName } from '../db/schema.js';

export type Analysis =
  | { readonly ok: true; readonly metadata: Record<string, string> }
  | { readonly ok: false; readonly reason: string; readonly message: string };

export interface AnalyseInput {
  readonly protocol: ProtocolName;
  readonly contentType: string;
  /** The content's first bytes: all of it when `complete`. */
  readonly head: Uint8Array;
  readonly complete: boolean;
  /** Unit codes the source named as recipients; an edXML header must address them. */
  readonly recipientUnitCodes: readonly string[];
  readonly sourceUnitCode: string;
}

const EDXML_NS = 'http://www.mic.gov.vn/TBT/QCVN_102_2016';
const HEADER_END = /<\/(?:[A-Za-z_][\w.-]*:)?edXMLHeader\s*>/;
const ENVELOPE_START = /<((?:[A-Za-z_][\w.-]*:)?edXMLEnvelope)[\s>]/;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => name === 'To',
});

const fail = (reason: string, message: string): Analysis => ({ ok: false, reason, message });

export function analyse(input: AnalyseInput): Analysis {
  switch (input.protocol) {
    case 'edxml':
    case 'edxml_status':
      return analyseEdxml(input);
    case 'plain_data':
      return analyseByMediaType(input);
  }
}

function analyseEdxml(input: AnalyseInput): Analysis {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(input.head);
  const end = HEADER_END.exec(text);
  if (end === null) {
    return fail(
      'EDXML_HEADER_MISSING',
      'the content has no edXMLHeader in its first bytes; is it an edXML package?',
    );
  }
  // The header alone, closed as the envelope was opened (often with a prefix,
  // `edXML:edXMLEnvelope`) so that it parses; the body (attachments) is not read.
  const root = ENVELOPE_START.exec(text)?.[1] ?? 'edXMLEnvelope';
  const headerXml = `${text.slice(0, end.index + end[0].length)}</${root}>`;
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(headerXml, true) as Record<string, unknown>;
  } catch (error) {
    return fail('EDXML_MALFORMED', `the edXML header is not well-formed XML: ${(error as Error).message}`);
  }
  const envelope = doc['edXMLEnvelope'] as Record<string, unknown> | undefined;
  const header = envelope?.['edXMLHeader'] as Record<string, unknown> | undefined;
  if (envelope === undefined || header === undefined) {
    return fail('EDXML_MALFORMED', 'the root element must be edXMLEnvelope with an edXMLHeader');
  }
  if (!text.includes(EDXML_NS)) {
    return fail('EDXML_NAMESPACE', `an edXML package must use the namespace ${EDXML_NS}`);
  }
  return input.protocol === 'edxml' ? documentHeader(header, input) : statusHeader(header, input);
}

function documentHeader(header: Record<string, unknown>, input: AnalyseInput): Analysis {
  const message = header['MessageHeader'] as Record<string, unknown> | undefined;
  if (message === undefined) return fail('EDXML_MALFORMED', 'an edXML document needs a MessageHeader');
  const from = organId(message['From']);
  const to = ((message['To'] as unknown[] | undefined) ?? []).map(organId).filter((id) => id !== '');
  if (from !== input.sourceUnitCode) {
    return fail(
      'EDXML_SENDER_MISMATCH',
      `the edXML sender (From/OrganId "${from}") is not the sending unit ${input.sourceUnitCode}`,
    );
  }
  const missing = input.recipientUnitCodes.filter((code) => !to.includes(code));
  if (missing.length > 0) {
    return fail(
      'EDXML_RECIPIENTS_DISAGREE',
      `the edXML header does not address ${missing.join(', ')}, named as recipients of the transfer`,
    );
  }
  const code = (message['Code'] ?? {}) as Record<string, unknown>;
  const promulgation = (message['PromulgationInfo'] ?? {}) as Record<string, unknown>;
  return {
    ok: true,
    metadata: compact({
      from_organ_id: from,
      to_organ_ids: to.join(','),
      code_number: text(code['CodeNumber']),
      code_notation: text(code['CodeNotation']),
      promulgation_date: text(promulgation['PromulgationDate']),
      document_id: text(message['DocumentId']),
      subject: text(message['Subject']).slice(0, 500),
    }),
  };
}

function statusHeader(header: Record<string, unknown>, input: AnalyseInput): Analysis {
  const status = header['Status'] as Record<string, unknown> | undefined;
  if (status === undefined) return fail('EDXML_MALFORMED', 'an edXML status package needs a Status header');
  const from = organId(status['From']);
  if (from !== input.sourceUnitCode) {
    return fail(
      'EDXML_SENDER_MISMATCH',
      `the status sender "${from}" is not the sending unit ${input.sourceUnitCode}`,
    );
  }
  const statusCode = text(status['StatusCode']);
  if (!/^\d{2}$/.test(statusCode)) return fail('EDXML_MALFORMED', 'StatusCode must be two digits, e.g. 03');
  const responseFor = (status['ResponseFor'] ?? {}) as Record<string, unknown>;
  return {
    ok: true,
    metadata: compact({
      from_organ_id: from,
      status_code: statusCode,
      response_for_document_id: text(responseFor['DocumentId']),
      response_for_code: text(responseFor['Code']),
    }),
  };
}

const SIGNATURES: ReadonlyArray<{ readonly types: readonly string[]; readonly magic: readonly number[] }> = [
  { types: ['application/pdf'], magic: [0x25, 0x50, 0x44, 0x46, 0x2d] },
  {
    types: [
      'application/zip',
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    ],
    magic: [0x50, 0x4b, 0x03, 0x04],
  },
  { types: ['image/png'], magic: [0x89, 0x50, 0x4e, 0x47] },
  { types: ['image/jpeg'], magic: [0xff, 0xd8, 0xff] },
];

function analyseByMediaType(input: AnalyseInput): Analysis {
  const type = input.contentType.split(';')[0]!.trim().toLowerCase();
  const signature = SIGNATURES.find((s) => s.types.includes(type));
  if (signature !== undefined) {
    const matches = signature.magic.every((byte, i) => input.head[i] === byte);
    return matches
      ? { ok: true, metadata: {} }
      : fail('CONTENT_TYPE_MISMATCH', `the content does not start like ${type}`);
  }
  if (type === 'application/json' || type.endsWith('+json')) return checkJson(input);
  if (type === 'application/xml' || type === 'text/xml' || type.endsWith('+xml')) return checkXml(input);
  if (type.startsWith('text/')) return checkText(input, type);
  // Any other media type is opaque to the platform: delivered byte for byte.
  return { ok: true, metadata: {} };
}

function checkJson(input: AnalyseInput): Analysis {
  const text = new TextDecoder().decode(input.head);
  if (!input.complete) {
    return /^\s*[[{]/.test(text)
      ? { ok: true, metadata: {} }
      : fail('CONTENT_TYPE_MISMATCH', 'JSON content must start with { or [');
  }
  try {
    JSON.parse(text);
    return { ok: true, metadata: {} };
  } catch (error) {
    return fail('CONTENT_TYPE_MISMATCH', `the content is not valid JSON: ${(error as Error).message}`);
  }
}

function checkXml(input: AnalyseInput): Analysis {
  const text = new TextDecoder().decode(input.head);
  if (!input.complete) {
    return /^\s*</.test(text)
      ? { ok: true, metadata: {} }
      : fail('CONTENT_TYPE_MISMATCH', 'XML content must start with <');
  }
  const result = XMLValidator.validate(text);
  return result === true
    ? { ok: true, metadata: {} }
    : fail(
        'CONTENT_TYPE_MISMATCH',
        `the content is not well-formed XML: ${result.err.msg} (line ${result.err.line})`,
      );
}

function checkText(input: AnalyseInput, type: string): Analysis {
  try {
    // `stream` tolerates a character cut at the end of a partial head.
    new TextDecoder('utf-8', { fatal: true }).decode(input.head, { stream: !input.complete });
    return { ok: true, metadata: {} };
  } catch {
    return fail('CONTENT_TYPE_MISMATCH', `${type} content must be UTF-8 text`);
  }
}

function organId(node: unknown): string {
  return node !== null && typeof node === 'object' ? text((node as Record<string, unknown>)['OrganId']) : '';
}

function text(value: unknown): string {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number') return String(value);
  if (value !== null && typeof value === 'object' && '#text' in value)
    return text((value as { '#text': unknown })['#text']);
  return '';
}

function compact(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== ''));
}
