/** Tables of the registry's schema, one type per table. */
import type { ColumnType, Generated } from 'kysely';
import type { OutboxTable } from '#lib/db/outbox.js';

export type UnitKindName = 'province' | 'department' | 'district' | 'commune' | 'other';
export type UnitStatusName = 'active' | 'superseded' | 'split' | 'merged' | 'dissolved';
export type UnitEventKindName = 'created' | 'renamed' | 'moved' | 'split' | 'merged' | 'dissolved';
export type AppKindName = 'document_system' | 'data_service' | 'web_app' | 'other';
export type AppStatusName = 'active' | 'suspended' | 'retired';
export type GrantActionName = 'send' | 'call';

type Timestamps = {
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
};

export interface UnitTable extends Timestamps {
  code: string;
  name: string;
  /** `name` folded for search (see domain/fold.ts). */
  name_folded: string;
  parent_code: string | null;
  kind: UnitKindName;
  status: UnitStatusName;
  /** Null for units of this zone; a peer zone's code for units hosted elsewhere. */
  zone_code: string | null;
}

export interface UnitSuccessorTable {
  predecessor_code: string;
  successor_code: string;
  event_id: number;
}

export interface UnitEventTable {
  id: Generated<number>;
  kind: UnitEventKindName;
  from_codes: string[];
  to_codes: string[];
  old_name: string | null;
  new_name: string | null;
  decision_ref: string | null;
  reason: string | null;
  actor: string;
  occurred_at: ColumnType<Date, Date | undefined, never>;
}

export interface AppTable extends Timestamps {
  id: string;
  unit_code: string;
  name: string;
  description: string;
  kind: AppKindName;
  accepted_content_types: string[];
  webhook_url: string | null;
  status: AppStatusName;
}

export interface GrantTable {
  id: string;
  subject_unit_code: string | null;
  subject_app_id: string | null;
  object_unit_code: string | null;
  object_app_id: string | null;
  object_any: boolean;
  action: GrantActionName;
  expires_at: Date | null;
  note: string;
  created_by: string;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export interface ZoneTable extends Timestamps {
  code: string;
  name: string;
  local: boolean;
  endpoint: string;
  unit_code_patterns: string[];
}

export interface RegistryDatabase {
  units: UnitTable;
  unit_successors: UnitSuccessorTable;
  unit_events: UnitEventTable;
  apps: AppTable;
  grants: GrantTable;
  zones: ZoneTable;
  outbox: OutboxTable;
}
