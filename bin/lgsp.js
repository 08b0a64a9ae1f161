#!/usr/bin/env node
// `lgsp`, the platform's command line (cli/main.ts), run through tsx so that no build step is needed.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
