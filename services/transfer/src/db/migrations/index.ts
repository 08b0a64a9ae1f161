import type { Migrations } from '#lib/db/migrate.js';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_transfers.js';
import * as m0003 from './0003_destination_presence.js';
import * as m0004 from './0004_statistics.js';

/** Every migration of the transfer schema, in order. */
export const migrations: Migrations = {
  '0001_initial': m0001,
  '0002_transfers': m0002,
  '0003_destination_presence': m0003,
  '0004_statistics': m0004,
};
