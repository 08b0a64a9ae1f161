/**
 * edXML packages of QCVN 102:2016 as a document system writes them, for the
 * unit tests of the analysis and the end-to-end tests of the transfer flows.
 */

export const EDXML_NAMESPACE = 'http://www.mic.gov.vn/TBT/QCVN_102_2016';

export interface DocumentFacts {
  /** Namespace prefix of every element, e.g. `edXML:`; empty (default) for the default namespace. */
  readonly prefix?: string;
  /** From/OrganId: the sending unit. */
  readonly from?: string;
  /** One To/OrganId per recipient unit. */
  readonly to?: readonly string[];
  readonly namespace?: string;
  readonly codeNumber?: string;
  readonly codeNotation?: string;
  readonly promulgationDate?: string;
  readonly subject?: string;
  /** What goes inside edXMLBody (never parsed by the platform). */
  readonly body?: string;
}

/** An edXML document package: envelope, header (MessageHeader), then the body. */
export function edxmlDocument(facts: DocumentFacts = {}): string {
  const p = facts.prefix ?? '';
  const xmlns = p === '' ? 'xmlns' : `xmlns:${p.slice(0, -1)}`;
  const el = (name: string, inner: string) => `<${p}${name}>${inner}</${p}${name}>`;
  const organ = (code: string) => el('OrganId', code) + el('OrganName', `Cơ quan ${code}`);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<${p}edXMLEnvelope ${xmlns}="${facts.namespace ?? EDXML_NAMESPACE}">`,
    el(
      'edXMLHeader',
      el(
        'MessageHeader',
        [
          el('From', organ(facts.from ?? '000.00.03.H26')),
          ...(facts.to ?? ['000.00.04.H26']).map((code) => el('To', organ(code))),
          el('DocumentId', 'H26.2024.0001'),
          el(
            'Code',
            el('CodeNumber', facts.codeNumber ?? '125') + el('CodeNotation', facts.codeNotation ?? 'QĐ-UBND'),
          ),
          el(
            'PromulgationInfo',
            el('Place', 'Hải Dương') + el('PromulgationDate', facts.promulgationDate ?? '2024/05/16'),
          ),
          el('DocumentType', el('Type', '1') + el('TypeName', 'Quyết định')),
          el('Subject', facts.subject ?? 'Về việc ban hành Quy chế hoạt động của LGSP tỉnh'),
        ].join(''),
      ),
    ),
    el('edXMLBody', facts.body ?? ''),
    `</${p}edXMLEnvelope>`,
  ].join('\n');
}

export interface StatusFacts {
  readonly prefix?: string;
  /** From/OrganId: the unit reporting the status. */
  readonly from?: string;
  /** StatusCode, two digits. */
  readonly code?: string;
}

/** An edXML status package: the processing status of a document the sender received. */
export function edxmlStatus(facts: StatusFacts = {}): string {
  const p = facts.prefix ?? '';
  const xmlns = p === '' ? 'xmlns' : `xmlns:${p.slice(0, -1)}`;
  const el = (name: string, inner: string) => `<${p}${name}>${inner}</${p}${name}>`;
  return [
    `<${p}edXMLEnvelope ${xmlns}="${EDXML_NAMESPACE}">`,
    el(
      'edXMLHeader',
      el(
        'Status',
        [
          el(
            'ResponseFor',
            el('OrganId', '000.00.04.H26') +
              el('Code', '125/QĐ-UBND') +
              el('PromulgationDate', '2024/05/16') +
              el('DocumentId', 'H26.2024.0001'),
          ),
          el('From', el('OrganId', facts.from ?? '000.00.03.H26') + el('OrganName', 'Sở Tài chính')),
          el('StatusCode', facts.code ?? '03'),
          el('Description', 'Đã tiếp nhận'),
          el('Timestamp', '2024/05/17 08:30:00'),
        ].join(''),
      ),
    ),
    `</${p}edXMLEnvelope>`,
  ].join('\n');
}
