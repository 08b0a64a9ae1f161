/** Handlers of the unit RPCs: reads, and the lifecycle of Art. 7.2 (create, rename, move, split, merge, dissolve). */
import type { ServiceImpl } from '@connectrpc/connect';
import type { Kysely } from 'kysely';
import type { RegistryService } from '#gen/lgsp/registry/v1/registry_service_pb.js';
import type { Unit } from '#gen/lgsp/registry/v1/resources_pb.js';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError, Violations } from '#lib/errors.js';
import { actorOf, requireAdmin } from '#lib/rpc/caller.js';
import { nextPageToken, readPage } from '#lib/rpc/pagination.js';
import type { RegistryContext } from '../context.js';
import { findApp, moveApps, suspendAppsOf, updateApp } from '../db/apps.js';
import { emitAppChanged, emitUnitChanged } from '../db/events.js';
import { toApp, toUnit, toUnitEvent, type UnitRow } from '../db/rows.js';
import type { RegistryDatabase } from '../db/schema.js';
import * as store from '../db/units.js';
import { optionalUnitCode } from './checks.js';
import {
  checkCode,
  checkCreateUnit,
  checkDissolveUnit,
  checkMergeUnits,
  checkMoveUnit,
  checkRenameUnit,
  checkSearchUnits,
  checkSplitUnit,
} from './units.validate.js';

type Db = Kysely<RegistryDatabase>;

export function unitRoutes(ctx: RegistryContext): Partial<ServiceImpl<typeof RegistryService>> {
  const { db } = ctx;
  const prefix = ctx.config.busPrefix;

  /** Records the event, publishes it with the touched units, and returns those units. */
  async function record(trx: Db, event: store.UnitEventInput, touched: readonly string[]): Promise<Unit[]> {
    const row = await store.insertUnitEvent(trx, event);
    const units = await withSuccessors(trx, [...(await store.findUnits(trx, touched)).values()]);
    await emitUnitChanged(trx, prefix, toUnitEvent(row), units);
    return units;
  }

  async function recordSuccession(
    trx: Db,
    event: store.UnitEventInput,
    predecessors: readonly string[],
    successors: readonly string[],
  ): Promise<Unit[]> {
    const row = await store.insertUnitEvent(trx, event);
    await store.insertSuccessors(trx, predecessors, successors, row.id);
    const units = await withSuccessors(trx, [
      ...(await store.findUnits(trx, [...predecessors, ...successors])).values(),
    ]);
    await emitUnitChanged(trx, prefix, toUnitEvent(row), units);
    return units;
  }

  async function publishApps(trx: Db, apps: readonly Parameters<typeof toApp>[0][]): Promise<void> {
    for (const app of apps) await emitAppChanged(trx, prefix, toApp(app));
  }

  return {
    async getUnit(req) {
      const code = checkCode(req.code);
      const row = await store.findUnit(db, code);
      if (row === undefined) throw unitNotFound(code, 'code');
      return { unit: (await withSuccessors(db, [row]))[0] };
    },

    async resolveUnitCode(req) {
      const code = checkCode(req.code);
      const row = await store.findUnit(db, code);
      if (row === undefined) throw unitNotFound(code, 'code');
      const resolved = await store.resolveCode(db, code);
      const events = await store.findEvents(db, resolved.eventIds);
      return {
        unit: (await withSuccessors(db, [row]))[0],
        current: await withSuccessors(db, resolved.current),
        path: events.map(toUnitEvent),
      };
    },

    async searchUnits(req) {
      const input = checkSearchUnits(req);
      const { rows, total } = await store.searchUnits(db, {
        ...input,
        offset: input.page.offset,
        limit: input.page.limit,
      });
      return {
        units: await withSuccessors(db, rows),
        nextPageToken: nextPageToken(input.page, rows.length),
        totalSize: total,
      };
    },

    async listUnitEvents(req) {
      const v = new Violations();
      const code = optionalUnitCode('code', req.code, v);
      const page = readPage(req.pageSize, req.pageToken, v);
      v.throwIfAny();
      const rows = await store.listEvents(db, code, page.offset, page.limit);
      return { events: rows.map(toUnitEvent), nextPageToken: nextPageToken(page, rows.length) };
    },

    async createUnit(req, handlerCtx) {
      const caller = requireAdmin(handlerCtx);
      const input = checkCreateUnit(req);
      const units = await db.transaction().execute(async (trx) => {
        const locked = await store.lockUnits(trx, [
          input.code,
          ...(input.parentCode ? [input.parentCode] : []),
        ]);
        if (locked.has(input.code)) throw codeTaken(input.code, 'code');
        if (input.parentCode !== undefined)
          requireActive(locked.get(input.parentCode), input.parentCode, 'parent_code');
        await store
          .insertUnit(trx, {
            code: input.code,
            name: input.name,
            parentCode: input.parentCode ?? null,
            kind: input.kind,
          })
          .catch(rethrowCodeTaken(input.code, 'code'));
        return record(
          trx,
          {
            kind: 'created',
            fromCodes: [],
            toCodes: [input.code],
            newName: input.name,
            decisionRef: input.decisionRef,
            actor: actorOf(caller),
          },
          [input.code],
        );
      });
      ctx.outbox.wake();
      return { unit: units[0] };
    },

    async renameUnit(req, handlerCtx) {
      const caller = requireAdmin(handlerCtx);
      const input = checkRenameUnit(req);
      const unit = await db.transaction().execute(async (trx) => {
        const locked = await store.lockUnits(trx, [input.code, ...(input.newCode ? [input.newCode] : [])]);
        const current = requireActive(locked.get(input.code), input.code, 'code');
        const event = {
          kind: 'renamed' as const,
          oldName: current.name,
          newName: input.newName,
          decisionRef: input.decisionRef,
          reason: input.reason,
          actor: actorOf(caller),
        };
        if (input.newCode === undefined) {
          await store.renameUnit(trx, input.code, input.newName);
          return (
            await record(trx, { ...event, fromCodes: [input.code], toCodes: [input.code] }, [input.code])
          )[0];
        }
        const newCode = input.newCode;
        if (locked.has(newCode)) throw codeTaken(newCode, 'new_code');
        await store
          .insertUnit(trx, {
            code: newCode,
            name: input.newName,
            parentCode: current.parent_code,
            kind: current.kind,
          })
          .catch(rethrowCodeTaken(newCode, 'new_code'));
        await carryOver(trx, [input.code], newCode);
        await store.setUnitStatus(trx, [input.code], 'superseded');
        const units = await recordSuccession(
          trx,
          { ...event, fromCodes: [input.code], toCodes: [newCode] },
          [input.code],
          [newCode],
        );
        return units.find((u) => u.code === newCode);
      });
      ctx.outbox.wake();
      return { unit };
    },

    async moveUnit(req, handlerCtx) {
      const caller = requireAdmin(handlerCtx);
      const input = checkMoveUnit(req);
      const units = await db.transaction().execute(async (trx) => {
        const locked = await store.lockUnits(trx, [input.code, input.newParentCode]);
        const unit = requireActive(locked.get(input.code), input.code, 'code');
        requireActive(locked.get(input.newParentCode), input.newParentCode, 'new_parent_code');
        const ancestors = await store.ancestorCodes(trx, input.newParentCode);
        if (ancestors.includes(input.code)) {
          throw new FailedPreconditionError(
            'TREE_CYCLE',
            `${input.newParentCode} is under ${input.code}; moving ${input.code} there would make a cycle`,
            { code: input.code, new_parent_code: input.newParentCode },
          );
        }
        await store.reparent(trx, [input.code], input.newParentCode);
        return record(
          trx,
          {
            kind: 'moved',
            fromCodes: [input.code, ...(unit.parent_code ? [unit.parent_code] : [])],
            toCodes: [input.code, input.newParentCode],
            decisionRef: input.decisionRef,
            actor: actorOf(caller),
          },
          [input.code],
        );
      });
      ctx.outbox.wake();
      return { unit: units[0] };
    },

    async splitUnit(req, handlerCtx) {
      const caller = requireAdmin(handlerCtx);
      const input = checkSplitUnit(req);
      const newCodes = input.into.map((u) => u.code);
      const units = await db.transaction().execute(async (trx) => {
        const locked = await store.lockUnits(trx, [input.code, ...newCodes]);
        const unit = requireActive(locked.get(input.code), input.code, 'code');
        input.into.forEach((u, i) => {
          if (locked.has(u.code)) throw codeTaken(u.code, `into[${i}].code`);
        });
        const children = await store.activeChildren(trx, [input.code]);
        const childMoves = input.reassignments.filter((r) => r.kind === 'child');
        const appMoves = input.reassignments.filter((r) => r.kind === 'app');
        for (const [i, move] of childMoves.entries()) {
          if (!children.some((c) => c.code === move.id)) {
            throw new FailedPreconditionError(
              'NOT_A_CHILD',
              `${move.id} is not an active child of ${input.code}`,
              {
                field: `reassignments[${i}]`,
                child_code: move.id,
              },
            );
          }
        }
        const unplaced = children.filter((c) => !childMoves.some((m) => m.id === c.code)).map((c) => c.code);
        if (unplaced.length > 0) {
          throw new FailedPreconditionError(
            'CHILDREN_NOT_PLACED',
            `every active child of ${input.code} must be placed under one of the new units; not placed: ${unplaced.join(', ')}`,
            { code: input.code, children: unplaced.join(',') },
          );
        }
        for (const move of appMoves) {
          const app = await findApp(trx, move.id);
          if (app?.unit_code !== input.code) {
            throw new FailedPreconditionError(
              'NOT_AN_APP_OF_UNIT',
              `${move.id} is not an app of ${input.code}`,
              {
                app_id: move.id,
              },
            );
          }
        }
        for (const u of input.into) {
          await store
            .insertUnit(trx, {
              code: u.code,
              name: u.name,
              parentCode: unit.parent_code,
              kind: u.kind ?? unit.kind,
            })
            .catch(rethrowCodeTaken(u.code, 'into'));
        }
        for (const move of childMoves) await store.reparent(trx, [move.id], move.toCode);
        const movedApps = [];
        for (const move of appMoves)
          movedApps.push(await updateApp(trx, move.id, { unit_code: move.toCode }));
        await publishApps(trx, [...movedApps, ...(await suspendAppsOf(trx, [input.code]))]);
        await store.setUnitStatus(trx, [input.code], 'split');
        return recordSuccession(
          trx,
          {
            kind: 'split',
            fromCodes: [input.code],
            toCodes: newCodes,
            decisionRef: input.decisionRef,
            reason: input.reason,
            actor: actorOf(caller),
          },
          [input.code],
          newCodes,
        );
      });
      ctx.outbox.wake();
      return { units: newCodes.map((c) => units.find((u) => u.code === c)!) };
    },

    async mergeUnits(req, handlerCtx) {
      const caller = requireAdmin(handlerCtx);
      const input = checkMergeUnits(req);
      const { target } = input;
      const units = await db.transaction().execute(async (trx) => {
        const locked = await store.lockUnits(trx, [...input.codes, target.code]);
        const sources = input.codes.map((code, i) => requireActive(locked.get(code), code, `codes[${i}]`));
        if (target.create === undefined) {
          requireActive(locked.get(target.code), target.code, target.field);
          const ancestors = await store.ancestorCodes(trx, target.code);
          const under = input.codes.find((c) => ancestors.includes(c));
          if (under !== undefined) {
            throw new FailedPreconditionError(
              'MERGE_INTO_DESCENDANT',
              `${target.code} is under ${under}; merge the other way round or move it first`,
              { into_code: target.code, code: under },
            );
          }
        } else {
          if (locked.has(target.code)) throw codeTaken(target.code, target.field);
          const first = sources[0]!;
          await store
            .insertUnit(trx, {
              code: target.code,
              name: target.create.name,
              parentCode: first.parent_code,
              kind: target.create.kind ?? first.kind,
            })
            .catch(rethrowCodeTaken(target.code, target.field));
        }
        await carryOver(trx, input.codes, target.code);
        await store.setUnitStatus(trx, input.codes, 'merged');
        return recordSuccession(
          trx,
          {
            kind: 'merged',
            fromCodes: input.codes,
            toCodes: [target.code],
            ...(target.create ? { newName: target.create.name } : {}),
            decisionRef: input.decisionRef,
            reason: input.reason,
            actor: actorOf(caller),
          },
          input.codes,
          [target.code],
        );
      });
      ctx.outbox.wake();
      return { unit: units.find((u) => u.code === target.code) };
    },

    async dissolveUnit(req, handlerCtx) {
      const caller = requireAdmin(handlerCtx);
      const input = checkDissolveUnit(req);
      const units = await db.transaction().execute(async (trx) => {
        const codes = [input.code, ...(input.successorCode ? [input.successorCode] : [])];
        const locked = await store.lockUnits(trx, codes);
        requireActive(locked.get(input.code), input.code, 'code');
        if (input.successorCode !== undefined) {
          requireActive(locked.get(input.successorCode), input.successorCode, 'successor_code');
        }
        const children = await store.activeChildren(trx, [input.code]);
        if (children.length > 0) {
          const list = children.map((c) => c.code);
          throw new FailedPreconditionError(
            'UNIT_HAS_CHILDREN',
            `${input.code} still has active units under it (${list.join(', ')}); move or dissolve them first`,
            { code: input.code, children: list.join(',') },
          );
        }
        await publishApps(trx, await suspendAppsOf(trx, [input.code]));
        await store.setUnitStatus(trx, [input.code], 'dissolved');
        const event = {
          kind: 'dissolved' as const,
          fromCodes: [input.code],
          toCodes: input.successorCode ? [input.successorCode] : [],
          decisionRef: input.decisionRef,
          reason: input.reason,
          actor: actorOf(caller),
        };
        return input.successorCode === undefined
          ? record(trx, event, [input.code])
          : recordSuccession(trx, event, [input.code], [input.successorCode]);
      });
      ctx.outbox.wake();
      return { unit: units.find((u) => u.code === input.code) };
    },
  };

  /** The successor takes over the children and apps of the units it replaces. */
  async function carryOver(trx: Db, from: readonly string[], to: string): Promise<void> {
    const children = await store.activeChildren(trx, from);
    await store.reparent(
      trx,
      children.map((c) => c.code).filter((c) => c !== to),
      to,
    );
    await publishApps(trx, await moveApps(trx, from, to));
  }
}

export async function withSuccessors(db: Db, rows: readonly UnitRow[]): Promise<Unit[]> {
  const successors = await store.successorsOf(
    db,
    rows.filter((r) => r.status !== 'active').map((r) => r.code),
  );
  return rows.map((r) => toUnit(r, successors.get(r.code) ?? []));
}

export function unitNotFound(code: string, field: string): NotFoundError {
  return new NotFoundError('UNIT_NOT_FOUND', `no unit has the code ${code}`, { unit_code: code, field });
}

/** The unit must exist and be active; the error names the field that pointed at it. */
export function requireActive(row: UnitRow | undefined, code: string, field: string): UnitRow {
  if (row === undefined) throw unitNotFound(code, field);
  if (row.status !== 'active') {
    throw new FailedPreconditionError('UNIT_NOT_ACTIVE', `unit ${code} is ${row.status}, not active`, {
      unit_code: code,
      status: row.status,
      field,
    });
  }
  return row;
}

function codeTaken(code: string, field: string): AlreadyExistsError {
  return new AlreadyExistsError('UNIT_CODE_TAKEN', `the code ${code} has already been issued`, {
    unit_code: code,
    field,
  });
}

/** A concurrent insert of the same code loses the race with a unique violation; report it as taken. */
function rethrowCodeTaken(code: string, field: string) {
  return (error: unknown): never => {
    if (isUniqueViolation(error)) throw codeTaken(code, field);
    throw error;
  };
}

export function isUniqueViolation(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    (error as { code: unknown }).code === '23505'
  );
}
