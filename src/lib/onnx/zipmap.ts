/**
 * Makes scikit-learn classifiers runnable from Node: their converters end in an ai.onnx.ml ZipMap
 * whose output is a sequence of maps, which onnxruntime-node cannot return. Each ZipMap that feeds
 * a graph output (and nothing else) is replaced by an Identity node, so the output keeps its name
 * (e.g. `output_probability`) but becomes the float tensor [N, classes] that was ZipMap's input.
 * Without a declared shape the output is declared [batch, classes], batch taken from the first input.
 * The class labels the ZipMap carried are returned so that results can still be named. Every
 * other byte of the model is copied unchanged.
 */
import { encodeNode, encodeValueInfo } from './build-model';
import type { Dim } from './build-model';
import { ProtoWriter, fieldMessage, fieldRaw, repeatedInt64, WIRE_LEN } from './protobuf';
import type { ProtoField } from './protobuf';
import { ATTRIBUTE, GRAPH, MODEL, NODE, OPSET, VALUE_INFO, decodeModel, messages, readValueInfo, str, strings } from './model-file';

export interface ZipMapRewrite {
  /** The graph output ZipMap produced (a sequence of maps before the rewrite). */
  from: string;
  /** The graph output name after the rewrite (the same name: it now carries the probability tensor). */
  to: string;
  /** The tensor that was ZipMap's input (the probabilities), now fed to `to` through Identity. */
  source: string;
  /** Class labels in column order, from classlabels_strings or classlabels_int64s (as decimal strings). */
  labels: string[];
  labelType: 'string' | 'int64';
}

export interface ZipMapResult {
  bytes: Uint8Array;
  rewritten: ZipMapRewrite[];
}

const ML_DOMAIN = 'ai.onnx.ml';

/** The default-domain opset to import when a model has none (Identity exists in every opset). */
function opsetForIr(irVersion: number): number {
  const table: Array<[number, number]> = [
    [10, 21],
    [9, 19],
    [8, 17],
    [7, 13],
    [6, 11],
    [5, 10],
    [4, 9],
  ];
  for (const [ir, opset] of table) if (irVersion >= ir) return opset;
  return 7;
}

interface ZipMapNode {
  field: ProtoField;
  name: string;
  input: string;
  output: string;
  labels: string[];
  labelType: 'string' | 'int64';
}

function readZipMap(field: ProtoField): ZipMapNode | undefined {
  const node = fieldMessage(field);
  if (str(node, NODE.opType) !== 'ZipMap' || str(node, NODE.domain) !== ML_DOMAIN) return undefined;
  const inputs = strings(node, NODE.input);
  const outputs = strings(node, NODE.output);
  if (inputs.length !== 1 || outputs.length !== 1) return undefined;
  for (const attribute of messages(node, NODE.attribute)) {
    const name = str(attribute, ATTRIBUTE.name);
    if (name === 'classlabels_strings') {
      return { field, name: str(node, NODE.name), input: inputs[0]!, output: outputs[0]!, labels: strings(attribute, ATTRIBUTE.strings), labelType: 'string' };
    }
    if (name === 'classlabels_int64s') {
      const labels = repeatedInt64(attribute, ATTRIBUTE.ints).map(String);
      return { field, name: str(node, NODE.name), input: inputs[0]!, output: outputs[0]!, labels, labelType: 'int64' };
    }
  }
  return undefined;
}

/** Every value name a graph's nodes read, subgraphs included (they may use outer names). */
function consumedNames(graph: ProtoField[], into: Map<string, number>): void {
  for (const node of messages(graph, GRAPH.node)) {
    for (const input of strings(node, NODE.input)) into.set(input, (into.get(input) ?? 0) + 1);
    for (const attribute of messages(node, NODE.attribute)) {
      for (const f of attribute) {
        if ((f.no === ATTRIBUTE.g || f.no === ATTRIBUTE.graphs) && f.wireType === WIRE_LEN) consumedNames(fieldMessage(f), into);
      }
    }
  }
}

/**
 * Replaces each ZipMap that feeds only a graph output by Identity (see the file header). Returns
 * the input object itself, untouched, when there is nothing to rewrite. Throws
 * EDGEML_ONNX_MODEL_INVALID when the bytes are not an ONNX model.
 */
export function stripZipMap(bytes: Uint8Array): ZipMapResult {
  const model = decodeModel(bytes);
  const { graph } = model;
  const zipMaps = graph
    .filter((f) => f.no === GRAPH.node)
    .map(readZipMap)
    .filter((z): z is ZipMapNode => z !== undefined);
  if (zipMaps.length === 0) return { bytes, rewritten: [] };

  const outputNames = new Set(messages(graph, GRAPH.output).map((v) => str(v, VALUE_INFO.name)));
  const consumers = new Map<string, number>();
  consumedNames(graph, consumers);
  const chosen = zipMaps.filter((z) => outputNames.has(z.output) && !consumers.has(z.output));
  if (chosen.length === 0) return { bytes, rewritten: [] };

  // Declared shape of each probability tensor, when the graph says it; else [unknown, classes].
  const declared = new Map<string, Dim[]>();
  for (const v of [...messages(graph, GRAPH.valueInfo), ...messages(graph, GRAPH.output)]) {
    const info = readValueInfo(v);
    if (info.kind === 'tensor' && info.dims.length > 0) declared.set(info.name, info.dims);
  }
  // The batch dimension, when not declared, is the first graph input's first dim (sklearn: [N, features]).
  const firstInput = messages(graph, GRAPH.input)
    .map(readValueInfo)
    .find((v) => v.kind === 'tensor' && v.dims.length > 0);
  const batch: Dim = firstInput ? firstInput.dims[0]! : null;
  const byField = new Map(chosen.map((z) => [z.field, z]));
  const byOutput = new Map(chosen.map((z) => [z.output, z]));

  const g = new ProtoWriter();
  for (const f of graph) {
    const zipMap = byField.get(f);
    if (zipMap) {
      g.bytes(GRAPH.node, encodeNode({ opType: 'Identity', name: zipMap.name ? `${zipMap.name}_as_tensor` : '', inputs: [zipMap.input], outputs: [zipMap.output] }));
      continue;
    }
    if ((f.no === GRAPH.output || f.no === GRAPH.valueInfo) && f.wireType === WIRE_LEN) {
      const replaced = byOutput.get(str(fieldMessage(f), VALUE_INFO.name));
      // A value_info entry still typing the output as a sequence would contradict Identity: drop it.
      if (replaced && f.no === GRAPH.valueInfo) continue;
      if (replaced) {
        const dims = declared.get(replaced.input) ?? [batch, replaced.labels.length];
        g.bytes(GRAPH.output, encodeValueInfo({ name: replaced.output, type: { tensor: 'float32', dims } }));
        continue;
      }
    }
    g.raw(fieldRaw(f));
  }

  const hasDefaultOpset = messages(model.fields, MODEL.opsetImport).some((o) => str(o, OPSET.domain) === '' || str(o, OPSET.domain) === 'ai.onnx');
  const m = new ProtoWriter();
  for (const f of model.fields) {
    if (f === model.graphField) m.bytes(MODEL.graph, g.finish());
    else if (f.no === MODEL.graph)
      continue; // an earlier, overridden graph occurrence
    else m.raw(fieldRaw(f));
  }
  if (!hasDefaultOpset) m.message(MODEL.opsetImport, (o) => o.varint(OPSET.version, opsetForIr(model.irVersion)));

  return {
    bytes: m.finish(),
    rewritten: chosen.map((z) => ({ from: z.output, to: z.output, source: z.input, labels: z.labels, labelType: z.labelType })),
  };
}
