/* 联合奖惩核查: a department checks a subject's red and black list entries and the measures
   that apply (seed 003 第十九条), with a purpose the usage log keeps. */
"use strict";
const Sanctions = (() => {
  const { api, query, fill, show, $ } = Console;

  async function check() {
    const code = $("sanction-code").value.trim();
    const answer = await api(`/api/sanctions/${encodeURIComponent(code)}?` +
                             query({ purpose: $("sanction-purpose").value.trim() }));
    const lists = [answer.on_black_list ? "在黑名单上" : "", answer.on_red_list ? "在红名单上" : ""]
      .filter(Boolean);
    show("sanction-result", `${answer.subject}：${lists.join("，") || "不在红黑名单上"}（${answer.as_of}）`,
         answer.on_black_list);
    fill($("sanction-entries").tBodies[0], answer.entries, (e) => [
      e.list === "black" ? "黑名单" : "红名单", e.class_name, e.listed_on, e.until || "—",
      e.fields.filter((f) => f.value).map((f) => `${f.label}：${f.value}`).join("；")]);
    const measures = Object.entries(answer.measures).flatMap(([kind, found]) =>
      found.map((m) => ({ kind, ...m })));
    fill($("sanction-measures").tBodies[0], measures, (m) => [
      m.kind === "black" ? "失信惩戒" : "守信激励", m.area, m.measure]);
    $("sanction-details").hidden = answer.entries.length === 0;
  }

  function wire() {
    $("sanction-form").addEventListener("submit", (event) => {
      event.preventDefault();
      check().catch((err) => show("sanction-result", "核查失败：" + err.message));
    });
  }

  return { wire };
})();
