/** The storage service's RPCs with content on the local filesystem. */
import { storageSuite } from './storage.suite.js';

storageSuite('fs');
