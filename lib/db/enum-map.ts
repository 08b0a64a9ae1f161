/**
 * Enums are stored by name (readable in SQL, stable when a proto enum gains
 * values) and travel as proto numbers; one map per enum converts both ways.
 */
export interface EnumMap<N extends string, E extends number> {
  toProto(name: N): E;
  /** Undefined for UNSPECIFIED and values this version does not know. */
  fromProto(value: E): N | undefined;
}

export function enumMap<N extends string, E extends number>(pairs: Record<N, E>): EnumMap<N, E> {
  const back = new Map<number, N>(Object.entries(pairs).map(([k, v]) => [v as number, k as N]));
  return {
    toProto: (name) => pairs[name],
    fromProto: (value) => back.get(value),
  };
}
