/**
 * Content analysis at commit (Art. 8.4): edXML document and status packages
 * of QCVN 102:2016, and opaque data checked against its media type.
 */
import { describe, expect, it } from 'vitest';
import type { ProtocolName } from '../src/db/schema.js';
import { type AnalyseInput, analyse } from '../src/domain/analyse.js';
import {
  edxmlDocument as buildDocument,
  edxmlStatus as buildStatus,
  type DocumentFacts,
  EDXML_NAMESPACE as NS,
  type StatusFacts,
} from './edxml-fixtures.js';

const SOURCE = '000.00.03.H26';
const TO = ['000.00.04.H26', '000.00.05.H26'];
const edxmlDocument = (facts: DocumentFacts = {}) => buildDocument({ from: SOURCE, to: TO, ...facts });
const edxmlStatus = (facts: StatusFacts = {}) => buildStatus({ from: SOURCE, ...facts });

function input(protocol: ProtocolName, contentType: string, content: string | Uint8Array): AnalyseInput {
  const head = typeof content === 'string' ? Buffer.from(content) : content;
  return {
    protocol,
    contentType,
    head,
    complete: true,
    recipientUnitCodes: TO,
    sourceUnitCode: SOURCE,
  };
}

const EDXML = 'application/edxml+xml';

describe('edXML document packages', () => {
  it('accepts a package whose header names the source and every unit recipient, and keeps its facts', () => {
    expect(analyse(input('edxml', EDXML, edxmlDocument()))).toEqual({
      ok: true,
      metadata: {
        from_organ_id: SOURCE,
        to_organ_ids: TO.join(','),
        code_number: '125',
        code_notation: 'QĐ-UBND',
        promulgation_date: '2024/05/16',
        document_id: 'H26.2024.0001',
        subject: 'Về việc ban hành Quy chế hoạt động của LGSP tỉnh',
      },
    });
  });

  it('accepts one To as well as several', () => {
    const result = analyse({ ...input('edxml', EDXML, edxmlDocument({ to: ['000.00.04.H26'] })) });
    expect(result.ok).toBe(false);
    const single = analyse({
      ...input('edxml', EDXML, edxmlDocument({ to: ['000.00.04.H26'] })),
      recipientUnitCodes: ['000.00.04.H26'],
    });
    expect(single).toMatchObject({ ok: true, metadata: { to_organ_ids: '000.00.04.H26' } });
  });

  it('reads the header only: the body is never parsed, so a large or odd body does not matter', () => {
    const body = `<edXML:Attachment>${'A'.repeat(10_000)}</edXML:Attachment><broken`;
    const result = analyse(input('edxml', EDXML, edxmlDocument({ body })));
    expect(result.ok).toBe(true);
  });

  it('analyses a head cut after the header (content larger than the analysed part)', () => {
    const whole = Buffer.from(edxmlDocument({ body: 'x'.repeat(5_000) }));
    const head = whole.subarray(0, whole.indexOf('<edXMLBody>') + 20);
    expect(analyse({ ...input('edxml', EDXML, head), complete: false }).ok).toBe(true);
  });

  // QCVN 102:2016 packages are commonly written with the `edXML:` prefix bound to the namespace.
  it('accepts a package written with a namespace prefix (edXML:)', () => {
    expect(analyse(input('edxml', EDXML, edxmlDocument({ prefix: 'edXML:' })))).toMatchObject({
      ok: true,
      metadata: { from_organ_id: SOURCE, code_number: '125', code_notation: 'QĐ-UBND' },
    });
  });

  it.each([
    ['plain JSON', '{"not":"edxml"}', 'EDXML_HEADER_MISSING'],
    ['plain text', 'Kính gửi Sở Kế hoạch và Đầu tư', 'EDXML_HEADER_MISSING'],
    [
      'XML of another kind',
      '<?xml version="1.0"?><invoice><total>1</total></invoice>',
      'EDXML_HEADER_MISSING',
    ],
    [
      'a header without an envelope',
      `<Package xmlns="${NS}"><edXMLHeader><MessageHeader/></edXMLHeader></Package>`,
      'EDXML_MALFORMED',
    ],
    [
      'a header that is not well-formed',
      `<edXMLEnvelope xmlns="${NS}"><edXMLHeader><MessageHeader><From></MessageHeader></edXMLHeader>`,
      'EDXML_MALFORMED',
    ],
    [
      'a header without MessageHeader',
      `<edXMLEnvelope xmlns="${NS}"><edXMLHeader><Other/></edXMLHeader></edXMLEnvelope>`,
      'EDXML_MALFORMED',
    ],
    ['another namespace', edxmlDocument({ namespace: 'http://example.org/edxml' }), 'EDXML_NAMESPACE'],
    ['another sender', edxmlDocument({ from: '000.00.09.H26' }), 'EDXML_SENDER_MISMATCH'],
    ['a recipient left out', edxmlDocument({ to: ['000.00.04.H26'] }), 'EDXML_RECIPIENTS_DISAGREE'],
  ])('refuses %s with %s', (_what, content, reason) => {
    expect(analyse(input('edxml', EDXML, content))).toMatchObject({ ok: false, reason });
  });

  it('checks only unit recipients against the header: app recipients have no organ id', () => {
    const result = analyse({
      ...input('edxml', EDXML, edxmlDocument({ to: ['000.00.04.H26'] })),
      recipientUnitCodes: [],
    });
    expect(result.ok).toBe(true);
  });

  it('names the missing recipients in its message', () => {
    const result = analyse(input('edxml', EDXML, edxmlDocument({ to: [] })));
    expect(result).toMatchObject({ ok: false, reason: 'EDXML_RECIPIENTS_DISAGREE' });
    if (!result.ok) for (const code of TO) expect(result.message).toContain(code);
  });
});

describe('edXML status packages', () => {
  it('accepts a status package from the sending unit and keeps its code and what it answers', () => {
    expect(analyse(input('edxml_status', EDXML, edxmlStatus()))).toEqual({
      ok: true,
      metadata: {
        from_organ_id: SOURCE,
        status_code: '03',
        response_for_document_id: 'H26.2024.0001',
        response_for_code: '125/QĐ-UBND',
      },
    });
  });

  it('accepts a status package written with the edXML: prefix', () => {
    expect(analyse(input('edxml_status', EDXML, edxmlStatus({ prefix: 'edXML:' })))).toMatchObject({
      ok: true,
      metadata: { status_code: '03' },
    });
  });

  it('refuses a status from another unit, a malformed status code, and a document sent as a status', () => {
    expect(analyse(input('edxml_status', EDXML, edxmlStatus({ from: '000.00.09.H26' })))).toMatchObject({
      ok: false,
      reason: 'EDXML_SENDER_MISMATCH',
    });
    expect(analyse(input('edxml_status', EDXML, edxmlStatus({ code: '3' })))).toMatchObject({
      ok: false,
      reason: 'EDXML_MALFORMED',
    });
    expect(analyse(input('edxml_status', EDXML, edxmlDocument()))).toMatchObject({
      ok: false,
      reason: 'EDXML_MALFORMED',
    });
  });
});

describe('plain data, by media type', () => {
  const ok = { ok: true, metadata: {} };
  const mismatch = { ok: false, reason: 'CONTENT_TYPE_MISMATCH' };
  const bytes = (...values: number[]) => new Uint8Array([...values, 0x0a, 0x0b, 0x0c]);

  it.each([
    ['application/pdf', Buffer.from('%PDF-1.7\n...')],
    ['application/zip', bytes(0x50, 0x4b, 0x03, 0x04)],
    [
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      bytes(0x50, 0x4b, 0x03, 0x04),
    ],
    ['application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', bytes(0x50, 0x4b, 0x03, 0x04)],
    ['image/png', bytes(0x89, 0x50, 0x4e, 0x47, 0x0d)],
    ['image/jpeg', bytes(0xff, 0xd8, 0xff, 0xe0)],
  ])('accepts %s that starts with its signature, and refuses it otherwise', (type, good) => {
    expect(analyse(input('plain_data', type, good))).toEqual(ok);
    expect(analyse(input('plain_data', type, Buffer.from('plain text, not a file')))).toMatchObject(mismatch);
    expect(analyse(input('plain_data', type, new Uint8Array(1)))).toMatchObject(mismatch);
  });

  it('checks JSON whole when it has all of it, by its first character otherwise', () => {
    expect(analyse(input('plain_data', 'application/json', '{"a":[1,2,"ba"]}'))).toEqual(ok);
    expect(analyse(input('plain_data', 'application/json; charset=utf-8', ' [1]'))).toEqual(ok);
    expect(analyse(input('plain_data', 'application/problem+json', '{"title":"x"}'))).toEqual(ok);
    expect(analyse(input('plain_data', 'application/json', '{"a":'))).toMatchObject(mismatch);
    expect(analyse(input('plain_data', 'application/json', 'not json'))).toMatchObject(mismatch);
    expect(analyse({ ...input('plain_data', 'application/json', '{"a":'), complete: false })).toEqual(ok);
    expect(analyse({ ...input('plain_data', 'application/json', 'xx'), complete: false })).toMatchObject(
      mismatch,
    );
  });

  it('checks XML for well-formedness, including +xml types', () => {
    expect(analyse(input('plain_data', 'application/xml', '<a><b>1</b></a>'))).toEqual(ok);
    expect(analyse(input('plain_data', 'text/xml', '<?xml version="1.0"?><a/>'))).toEqual(ok);
    expect(analyse(input('plain_data', EDXML, edxmlDocument()))).toEqual(ok);
    expect(analyse(input('plain_data', 'application/xml', '<a><b></a>'))).toMatchObject(mismatch);
    expect(analyse(input('plain_data', 'application/xml', '{"a":1}'))).toMatchObject(mismatch);
    expect(analyse({ ...input('plain_data', 'application/xml', '<a><b>'), complete: false })).toEqual(ok);
  });

  it('wants UTF-8 for text, tolerating a character cut at the end of a partial head', () => {
    const text = Buffer.from('Công văn số 125');
    expect(analyse(input('plain_data', 'text/plain', text))).toEqual(ok);
    expect(analyse(input('plain_data', 'text/csv', 'a,b\n1,2\n'))).toEqual(ok);
    expect(analyse(input('plain_data', 'text/plain', new Uint8Array([0x61, 0xff, 0x62])))).toMatchObject(
      mismatch,
    );
    const cut = text.subarray(0, text.indexOf(Buffer.from('ô')) + 1);
    expect(analyse({ ...input('plain_data', 'text/plain', cut), complete: false })).toEqual(ok);
    expect(analyse(input('plain_data', 'text/plain', cut))).toMatchObject(mismatch);
  });

  it('delivers any other media type byte for byte, unchecked', () => {
    expect(analyse(input('plain_data', 'application/octet-stream', new Uint8Array([0, 1, 2])))).toEqual(ok);
    expect(analyse(input('plain_data', 'application/x-custom', 'anything'))).toEqual(ok);
  });
});
