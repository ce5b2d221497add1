// Compose a subgraph SDL into a federation supergraph with Apollo's own composition library,
// as a gateway would. Usage: node tools/compose_supergraph.mjs SUBGRAPH.graphql
// Prints the supergraph SDL; exits 1 with the composition errors if it does not compose.
import { readFileSync } from "node:fs";
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

const typeDefs = parse(readFileSync(process.argv[2], "utf8"));
const result = composeServices([{ name: "throttling", typeDefs, url: "http://127.0.0.1:8090/graphql" }]);
if (result.errors && result.errors.length) {
  console.error(result.errors.map((error) => error.message).join("\n"));
  process.exit(1);
}
console.log(result.supergraphSdl);
