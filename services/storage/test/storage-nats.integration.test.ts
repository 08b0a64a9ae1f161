/** The storage service's RPCs with content in the NATS JetStream Object Store. */
import { storageSuite } from './storage.suite.js';

storageSuite('nats');
