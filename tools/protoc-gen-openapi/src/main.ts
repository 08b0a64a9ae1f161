/** The plugin's entry point: a CodeGeneratorRequest on stdin, the response on stdout. */
import { runNodeJs } from '@bufbuild/protoplugin';
import { openApiPlugin } from './plugin.js';

runNodeJs(openApiPlugin);
