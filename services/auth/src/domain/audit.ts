/**
 * Audit events of the auth service (Art. 14.5) on `<prefix>.audit.auth`:
 * credentials created, rotated and revoked, session tokens issued, and every
 * refusal of VerifyRequestSignature, VerifyAccess and IssueSessionToken.
 */
export { type AuditEntry, AuditOutcome, type AuditRecorder } from '#lib/audit.js';

export const AUTH_SERVICE = 'lgsp.auth.v1.AuthService';
