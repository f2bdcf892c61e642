// Reads and searches kapflow's FHIR API with the npm fhir-kit-client (a client nobody here
// wrote). Run by tests/fhir/test_third_party_clients.py against a live server:
//   node fhir_kit_client.mjs <base url> <bearer token> <patient id>
// Prints one JSON object with what it found; exits non-zero on any error.
import { Client } from "fhir-kit-client";

async function main() {
  const [baseUrl, token, patientId] = process.argv.slice(2);
  const client = new Client({ baseUrl, bearerToken: token });
  const statement = await client.capabilityStatement();
  const patient = await client.read({ resourceType: "Patient", id: patientId });
  const ids = [];
  let page = await client.search({ resourceType: "Patient", searchParams: { _count: 1 } });
  while (page) {
    for (const entry of page.entry || []) ids.push(entry.resource.id);
    page = await client.nextPage({ bundle: page });
  }
  const encounters = await client.search({
    resourceType: "Encounter",
    searchParams: { patient: patientId, _include: "Encounter:patient" },
  });
  const everything = await client.operation({
    name: "$everything", resourceType: "Patient", id: patientId, method: "GET",
  });
  let missing = null;
  try {
    await client.read({ resourceType: "Patient", id: "999999999" });
  } catch (error) {
    missing = { status: error.response.status, type: error.response.data.resourceType };
  }
  console.log(JSON.stringify({
    fhirVersion: statement.fhirVersion,
    types: statement.rest[0].resource.map((r) => r.type),
    patient: patient.id,
    pagedIds: ids,
    encounterModes: (encounters.entry || []).map((e) => e.search.mode),
    everything: (everything.entry || []).length,
    missing,
  }));
}

main().catch((error) => {
  console.error(String(error && error.message ? error.message : error));
  process.exit(1);
});
