/** One validator per unit RPC: each runs before any side effect and reports every bad field at once. */
import type {
  CreateUnitRequest,
  DissolveUnitRequest,
  MergeUnitsRequest,
  MoveUnitRequest,
  RenameUnitRequest,
  SearchUnitsRequest,
  SplitUnitRequest,
} from '#gen/lgsp/registry/v1/registry_service_pb.js';
import { looksLikeCodePrefix } from '#lib/domain/unit-code.js';
import { Violations } from '#lib/errors.js';
import { type Page, readPage } from '#lib/rpc/pagination.js';
import { unitKinds } from '../db/rows.js';
import type { UnitKindName } from '../db/schema.js';
import { searchTerms } from '../domain/fold.js';
import { distinct, optionalText, optionalUnitCode, requiredEnum, requiredText, unitCode } from './checks.js';

export function checkCode(raw: string, field = 'code'): string {
  const v = new Violations();
  const code = unitCode(field, raw, v);
  v.throwIfAny();
  return code;
}

export function checkCreateUnit(req: CreateUnitRequest) {
  const v = new Violations();
  const input = {
    code: unitCode('code', req.code, v),
    name: requiredText('name', req.name, v),
    parentCode: optionalUnitCode('parent_code', req.parentCode, v),
    kind: requiredEnum<UnitKindName>('kind', req.kind, unitKinds, v),
    decisionRef: optionalText('decision_ref', req.decisionRef, v, 200),
  };
  v.throwIfAny();
  return { ...input, kind: input.kind! };
}

export function checkRenameUnit(req: RenameUnitRequest) {
  const v = new Violations();
  const code = unitCode('code', req.code, v);
  const newCode = optionalUnitCode('new_code', req.newCode, v);
  const input = {
    code,
    newName: requiredText('new_name', req.newName, v),
    newCode: newCode === code ? undefined : newCode,
    decisionRef: optionalText('decision_ref', req.decisionRef, v, 200),
    reason: optionalText('reason', req.reason, v),
  };
  v.throwIfAny();
  return input;
}

export function checkMoveUnit(req: MoveUnitRequest) {
  const v = new Violations();
  const code = unitCode('code', req.code, v);
  const newParentCode = unitCode('new_parent_code', req.newParentCode, v);
  if (v.isEmpty && code === newParentCode) {
    v.add('new_parent_code', 'a unit cannot be its own parent', 'TREE_CYCLE');
  }
  const decisionRef = optionalText('decision_ref', req.decisionRef, v, 200);
  v.throwIfAny();
  return { code, newParentCode, decisionRef };
}

export function checkSplitUnit(req: SplitUnitRequest) {
  const v = new Violations();
  const code = unitCode('code', req.code, v);
  if (req.into.length < 2) v.add('into', 'a split needs at least two new units', 'TOO_FEW');
  const into = req.into.map((u, i) => ({
    code: unitCode(`into[${i}].code`, u.code, v),
    name: requiredText(`into[${i}].name`, u.name, v),
    kind: u.kind === 0 ? undefined : requiredEnum<UnitKindName>(`into[${i}].kind`, u.kind, unitKinds, v),
  }));
  distinct(
    'into',
    into.map((u) => u.code),
    v,
  );
  into.forEach((u, i) => {
    if (u.code === code) v.add(`into[${i}].code`, 'a new unit needs a new code', 'CODE_REUSED');
  });
  const targets = new Set(into.map((u) => u.code));
  const reassignments = req.reassignments.map((r, i) => {
    const toCode = unitCode(`reassignments[${i}].to_code`, r.toCode, v);
    if (v.isEmpty && !targets.has(toCode)) {
      v.add(`reassignments[${i}].to_code`, 'must be one of the new units in "into"', 'NOT_A_NEW_UNIT');
    }
    if (r.item.case === 'childCode') {
      return {
        kind: 'child' as const,
        id: unitCode(`reassignments[${i}].child_code`, r.item.value, v),
        toCode,
      };
    }
    if (r.item.case === 'appId') return { kind: 'app' as const, id: r.item.value.trim(), toCode };
    v.add(`reassignments[${i}]`, 'must name a child_code or an app_id', 'REQUIRED');
    return { kind: 'app' as const, id: '', toCode };
  });
  distinct(
    'reassignments',
    reassignments.map((r) => `${r.kind}:${r.id}`),
    v,
  );
  const decisionRef = optionalText('decision_ref', req.decisionRef, v, 200);
  const reason = optionalText('reason', req.reason, v);
  v.throwIfAny();
  return { code, into, reassignments, decisionRef, reason };
}

export function checkMergeUnits(req: MergeUnitsRequest) {
  const v = new Violations();
  if (req.codes.length === 0) v.add('codes', 'name at least one unit to merge', 'TOO_FEW');
  const codes = req.codes.map((c, i) => unitCode(`codes[${i}]`, c, v));
  distinct('codes', codes, v);
  let target: { code: string; field: string; create?: { name: string; kind: UnitKindName | undefined } };
  if (req.target.case === 'intoCode') {
    target = { code: unitCode('into_code', req.target.value, v), field: 'into_code' };
  } else if (req.target.case === 'intoNew') {
    const u = req.target.value;
    target = {
      code: unitCode('into_new.code', u.code, v),
      field: 'into_new.code',
      create: {
        name: requiredText('into_new.name', u.name, v),
        kind: u.kind === 0 ? undefined : requiredEnum<UnitKindName>('into_new.kind', u.kind, unitKinds, v),
      },
    };
  } else {
    v.add('target', 'set into_code (an existing unit) or into_new (a new unit)', 'REQUIRED');
    target = { code: '', field: 'target' };
  }
  if (target.code !== '' && codes.includes(target.code)) {
    v.add(target.field, 'cannot be one of the merged units', 'MERGE_INTO_SELF');
  }
  const decisionRef = optionalText('decision_ref', req.decisionRef, v, 200);
  const reason = optionalText('reason', req.reason, v);
  v.throwIfAny();
  return { codes, target, decisionRef, reason };
}

export function checkDissolveUnit(req: DissolveUnitRequest) {
  const v = new Violations();
  const code = unitCode('code', req.code, v);
  const successorCode = optionalUnitCode('successor_code', req.successorCode, v);
  if (successorCode !== undefined && successorCode === code) {
    v.add('successor_code', 'a unit cannot succeed itself', 'TREE_CYCLE');
  }
  const decisionRef = optionalText('decision_ref', req.decisionRef, v, 200);
  const reason = optionalText('reason', req.reason, v);
  v.throwIfAny();
  return { code, successorCode, decisionRef, reason };
}

export const MAX_QUERY_LENGTH = 200;

export function checkSearchUnits(req: SearchUnitsRequest): {
  query: string;
  terms: string[];
  codePrefix: string | undefined;
  parentCode: string | undefined;
  kind: UnitKindName | undefined;
  includeInactive: boolean;
  page: Page;
} {
  const v = new Violations();
  const query = req.query.trim();
  if (query.length > MAX_QUERY_LENGTH)
    v.add('query', `must be at most ${MAX_QUERY_LENGTH} characters`, 'TOO_LONG');
  const parentCode = optionalUnitCode('parent_code', req.parentCode, v);
  const kind = req.kind === 0 ? undefined : requiredEnum<UnitKindName>('kind', req.kind, unitKinds, v);
  const page = readPage(req.pageSize, req.pageToken, v);
  v.throwIfAny();
  return {
    query,
    terms: searchTerms(query),
    codePrefix: looksLikeCodePrefix(query) ? query.toUpperCase() : undefined,
    parentCode,
    kind,
    includeInactive: req.includeInactive,
    page,
  };
}
