// Renders /api/v1/openapi.json as a readable page. Self-contained: no
// network beyond this server, no libraries, no inline script (the page's
// CSP allows only scripts and styles from this origin).
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function refName(ref) { return ref.split("/").pop(); }

function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return refName(schema.$ref);
  if (schema.oneOf) return schema.oneOf.map(typeOf).join(" | ");
  if (schema.allOf) return schema.allOf.map(typeOf).join(" & ");
  if (schema.type === "array") return typeOf(schema.items) + "[]";
  let t = Array.isArray(schema.type) ? schema.type.join(" | ") : (schema.type || "object");
  if (schema.format) t += " (" + schema.format + ")";
  return t;
}

function schemaLink(schema) {
  const t = typeOf(schema);
  const name = schema && (schema.$ref ? refName(schema.$ref) : schema.items && schema.items.$ref ? refName(schema.items.$ref) : null);
  return name ? el("a", { href: "#schema-" + name }, t) : el("code", {}, t);
}

function renderRoute(path, method, op) {
  const secured = !(op.security && op.security.length === 1 && Object.keys(op.security[0]).length === 0);
  const summary = el("summary", {},
    el("span", { class: "method " + method }, method), " ",
    el("span", { class: "path" + (secured ? " lock" : "") }, path), " ",
    el("span", { class: "muted" }, op.summary || ""));
  const body = el("div", {});
  if (op.description) body.append(el("p", {}, op.description));
  if (op.parameters && op.parameters.length) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "description")));
    for (const p of op.parameters) {
      table.append(el("tr", {}, el("td", {}, el("code", {}, p.name + (p.required ? "" : "?"))), el("td", {}, p.in),
        el("td", {}, schemaLink(p.schema)), el("td", {}, p.description || "")));
    }
    body.append(table);
  }
  if (op.requestBody) {
    const kinds = Object.entries(op.requestBody.content || {});
    body.append(el("p", {}, "Body: ", ...kinds.flatMap(([type, c], i) => [i ? ", or " : "", el("code", {}, type), " ", schemaLink(c.schema)])));
  }
  const responses = el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "body"), el("th", {}, "description")));
  for (const [status, r] of Object.entries(op.responses || {})) {
    const content = Object.values(r.content || {})[0];
    responses.append(el("tr", {}, el("td", {}, status), el("td", {}, content ? schemaLink(content.schema) : ""), el("td", {}, r.description || "")));
  }
  body.append(responses);
  return el("details", { class: "route", id: (method + path).replace(/[^a-z0-9]+/gi, "-") }, summary, body);
}

function renderSchema(name, schema) {
  const section = el("div", { id: "schema-" + name }, el("h3", {}, name));
  if (schema.description) section.append(el("p", {}, schema.description));
  const props = schema.properties || {};
  const required = new Set(schema.required || []);
  if (Object.keys(props).length) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"), el("th", {}, "description")));
    for (const [field, s] of Object.entries(props)) {
      table.append(el("tr", {}, el("td", {}, el("code", {}, field + (required.has(field) ? "" : "?"))), el("td", {}, schemaLink(s)), el("td", {}, s.description || "")));
    }
    section.append(table);
  } else {
    section.append(el("pre", {}, JSON.stringify(schema, null, 2)));
  }
  return section;
}

async function main() {
  const response = await fetch("/api/v1/openapi.json");
  const doc = await response.json();
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version;
  const intro = document.getElementById("intro");
  intro.textContent = "";
  intro.append(doc.info.description || "", " ", el("a", { href: "/api/v1/openapi.json" }, "OpenAPI document"));
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(renderRoute(path, method, op));
    }
  }
  const routes = document.getElementById("routes");
  const toc = document.getElementById("toc");
  for (const [tag, items] of byTag) {
    toc.append(el("a", { href: "#tag-" + tag }, tag));
    routes.append(el("h2", { id: "tag-" + tag }, tag), ...items);
  }
  toc.append(el("a", { href: "#schemas" }, "schemas"));
  const schemas = document.getElementById("schemas");
  schemas.append(el("h2", {}, "Schemas"));
  for (const [name, schema] of Object.entries((doc.components && doc.components.schemas) || {})) {
    schemas.append(renderSchema(name, schema));
  }
}

main().catch((e) => { document.getElementById("intro").textContent = "Cannot load the OpenAPI document: " + e; });
