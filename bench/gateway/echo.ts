/**
 * The echo RPC of the gateway suite's baseline, `lgsp.bench.v1.EchoService/Echo`:
 * it answers the message it was sent. Its descriptor is built here, in memory,
 * from a FileDescriptorProto: it is not a proto of the platform (protos are
 * public API and linted), it exists only on the bench's bare server and in its
 * load worker.
 */
import {
  create,
  createFileRegistry,
  type DescMessage,
  type DescMethodUnary,
  type DescService,
} from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from '@bufbuild/protobuf/wkt';

const PACKAGE = 'lgsp.bench.v1';

const file = create(FileDescriptorProtoSchema, {
  name: 'lgsp/bench/v1/echo.proto',
  package: PACKAGE,
  syntax: 'proto3',
  messageType: [
    {
      name: 'EchoMessage',
      field: [
        {
          name: 'text',
          jsonName: 'text',
          number: 1,
          type: FieldDescriptorProto_Type.STRING,
          label: FieldDescriptorProto_Label.OPTIONAL,
        },
      ],
    },
  ],
  service: [
    {
      name: 'EchoService',
      method: [{ name: 'Echo', inputType: `.${PACKAGE}.EchoMessage`, outputType: `.${PACKAGE}.EchoMessage` }],
    },
  ],
});

const registry = createFileRegistry(file, () => undefined);

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the echo descriptor has no ${what}`);
  return value;
}

export const EchoService: DescService = required(registry.getService(`${PACKAGE}.EchoService`), 'service');

/** The one method: unary, EchoMessage in and out. */
export const ECHO_METHOD = required(EchoService.methods[0], 'method') as DescMethodUnary<
  DescMessage,
  DescMessage
>;

/** What the load sends: a short text, about the size of a small read's request. */
export const ECHO_TEXT = 'lgsp bench echo 000.00.03.H26';
