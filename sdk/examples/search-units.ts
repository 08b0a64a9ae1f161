/**
 * Finds units the way a clerk types them: `npx tsx sdk/examples/search-units.ts "so tai chinh"`.
 * A public read: no credential needed, but one in the environment is used if set.
 */
import { LgspClient } from '@lgsp/sdk';

const client = new LgspClient();
try {
  for (const unit of await client.searchUnits(process.argv[2] ?? 'tài chính')) {
    console.log(`${unit.code}\t${unit.name}`);
  }
} finally {
  client.close();
}
