import { createMemoryBus } from '#lib/bus/memory.js';
import { busContract } from './bus.contract.js';

busContract('memory', async () => createMemoryBus());
