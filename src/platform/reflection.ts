import { createRegistry, toBinary, type DescFile, type DescService, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import {
  ServerReflection,
  type ServerReflectionRequest,
  type ServerReflectionResponseSchema,
} from "../gen/grpc/reflection/v1/reflection_pb.js";

type Reply = MessageInitShape<typeof ServerReflectionResponseSchema>;

/**
 * gRPC server reflection (grpc.reflection.v1) for the given services, so
 * grpcurl, buf curl and grpcui can call them without a copy of the schema.
 */
export function createReflectionService(services: DescService[]): ServiceImpl<typeof ServerReflection> {
  const files = new Set<DescFile>();
  const collect = (file: DescFile) => {
    if (files.has(file)) return;
    files.add(file);
    file.dependencies.forEach(collect);
  };
  for (const service of [...services, ServerReflection]) collect(service.file);
  const registry = createRegistry(...files);
  const byName = new Map([...files].map((f) => [f.proto.name, f]));
  const names = [...services, ServerReflection].map((s) => s.typeName);

  /** The file and every file it imports, dependencies first, as serialized FileDescriptorProtos. */
  function withDependencies(file: DescFile): Uint8Array[] {
    const ordered: DescFile[] = [];
    const visit = (f: DescFile) => {
      if (ordered.includes(f)) return;
      f.dependencies.forEach(visit);
      ordered.push(f);
    };
    visit(file);
    return ordered.map((f) => toBinary(FileDescriptorProtoSchema, f.proto));
  }

  function fileOfSymbol(symbol: string): DescFile | undefined {
    const found = registry.get(symbol);
    if (found && "file" in found) return found.file;
    // A method or field: "pkg.Service.Method" lives in the file of "pkg.Service".
    const parent = symbol.slice(0, Math.max(0, symbol.lastIndexOf(".")));
    const owner = parent ? registry.get(parent) : undefined;
    return owner && "file" in owner ? owner.file : undefined;
  }

  const notFound = (message: string): Reply["messageResponse"] => ({
    case: "errorResponse",
    value: { errorCode: Code.NotFound, errorMessage: message.slice(0, 300) },
  });

  function answer(req: ServerReflectionRequest): Reply["messageResponse"] {
    const request = req.messageRequest;
    switch (request.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: names.map((name) => ({ name })) } };
      case "fileByFilename": {
        const file = byName.get(request.value);
        return file ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file) } } : notFound(`file not found: ${request.value}`);
      }
      case "fileContainingSymbol": {
        const file = fileOfSymbol(request.value);
        return file ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file) } } : notFound(`symbol not found: ${request.value}`);
      }
      case "fileContainingExtension":
        return notFound("no extensions are registered");
      case "allExtensionNumbersOfType":
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: request.value, extensionNumber: [] } };
      default:
        return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "empty reflection request" } };
    }
  }

  return {
    async *serverReflectionInfo(requests): AsyncIterable<Reply> {
      for await (const req of requests) {
        yield { validHost: req.host, originalRequest: req, messageResponse: answer(req) };
      }
    },
  };
}
