/**
 * protoc-gen-openapi: a protoc plugin (run by `buf generate`) that writes the
 * OpenAPI description of the JSON API the gateway serves, and an HTML page
 * rendered from it.
 *
 * Options (`opt` in buf.gen.yaml, each `key=value`):
 *   - `open_service=<package.Service>`: a service that declares no access
 *     level yet is open to anyone (the standard health protocol); repeatable.
 *   - `version=<text>`: `info.version` of the description (default `v1`).
 *   - `json=<path>`, `html=<path>`: the files written, relative to `out`
 *     (default `openapi/lgsp.openapi.json` and `openapi/lgsp.html`).
 */
import { create, createFileRegistry, type DescFile, protoInt64 } from '@bufbuild/protobuf';
import {
  type CodeGeneratorRequest,
  CodeGeneratorResponse_Feature,
  CodeGeneratorResponseSchema,
  FileDescriptorSetSchema,
} from '@bufbuild/protobuf/wkt';
import type { Plugin } from '@bufbuild/protoplugin';
import { renderHtml } from './html.js';
import { buildOpenApi } from './openapi.js';

interface Parameters {
  openServices: string[];
  version: string;
  json: string;
  html: string;
}

export function parseParameter(parameter: string): Parameters {
  const out: Parameters = {
    openServices: [],
    version: 'v1',
    json: 'openapi/lgsp.openapi.json',
    html: 'openapi/lgsp.html',
  };
  for (const pair of parameter.split(',')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const key = (at === -1 ? pair : pair.slice(0, at)).trim();
    const value = at === -1 ? '' : pair.slice(at + 1).trim();
    if (value === '') throw new Error(`protoc-gen-openapi: option "${key}" needs a value`);
    switch (key) {
      case 'open_service':
        out.openServices.push(value);
        break;
      case 'version':
        out.version = value;
        break;
      case 'json':
        out.json = value;
        break;
      case 'html':
        out.html = value;
        break;
      default:
        throw new Error(`protoc-gen-openapi: unknown option "${key}"`);
    }
  }
  return out;
}

export const openApiPlugin: Plugin = {
  name: 'protoc-gen-openapi',
  version: '1.0.0',
  run(request: CodeGeneratorRequest) {
    const options = parseParameter(request.parameter);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: request.protoFile }));
    // By name, so that the output does not depend on the order the driver lists the files in.
    const files = [...request.fileToGenerate].sort().map((name): DescFile => {
      const file = registry.getFile(name);
      if (file === undefined) throw new Error(`protoc-gen-openapi: ${name} is not in the request`);
      return file;
    });
    const document = buildOpenApi({
      files,
      registry,
      openServices: options.openServices,
      version: options.version,
    });
    return create(CodeGeneratorResponseSchema, {
      supportedFeatures: protoInt64.parse(CodeGeneratorResponse_Feature.PROTO3_OPTIONAL),
      file: [
        { name: options.json, content: `${JSON.stringify(document, null, 2)}\n` },
        { name: options.html, content: renderHtml(document) },
      ],
    });
  },
};
