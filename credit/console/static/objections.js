/* The objection queue (异议), shared by the credit office's page and a provider's: the office
   accepts, resolves and informs; a provider resolves the objections to its own records. The
   server decides who may take which step; this only offers the steps that fit the stage. */
"use strict";
const Objections = (() => {
  const { api, post, query, fill, button } = Console;
  const STAGES = { filed: "待核查", accepted: "已受理", resolved: "已处理待告知", informed: "已告知" };
  const RESOLUTIONS = { correct: "更正", confirm: "维持", delete: "删除" };
  const today = () => new Date().toISOString().slice(0, 10);

  // `act(fn, reload)`: the page's way to run a step and show its error
  const COLUMNS = ["编号", "信息类别", "记录", "主体", "申请人", "异议理由", "阶段", "申请日",
                   "截止日", "处理"];

  function header(table) {
    if (table.tHead) return;
    const row = table.createTHead().insertRow();
    for (const text of COLUMNS) row.append(Object.assign(document.createElement("th"), { textContent: text }));
  }

  async function load(tableId, stage, act, office = true) {
    header(document.getElementById(tableId));
    const list = (await api("/api/objections?" + query({ stage }))).objections;
    const reload = () => load(tableId, stage, act, office);
    const trs = fill(document.getElementById(tableId).tBodies[0], list, (o) => [
      o.objection_id, o.class_code, o.record_key, o.subject_id, o.applicant, o.grounds,
      STAGES[o.stage] + (o.resolution ? `（${RESOLUTIONS[o.resolution] || o.resolution}）` : ""),
      o.filed_on, o.due_on || "—", "",
    ]);
    trs.forEach((tr, i) => {
      const o = list[i];
      tr.dataset.objection = o.objection_id;
      if (o.due_on && o.due_on < today()) tr.classList.add("late");
      actions(tr.lastChild, o, (fn) => act(fn, reload), office);
    });
    return list;
  }

  function actions(cell, o, run, office) {
    const path = `/api/objections/${encodeURIComponent(o.objection_id)}/`;
    if (office && o.stage === "filed") cell.append(button("受理", run(() => post(path + "accept"))));
    if (office && o.stage === "resolved") {
      cell.append(button("已书面告知", run(() => post(path + "inform"))));
    }
    if (!(o.stage === "accepted" || (!office && o.stage === "filed"))) return;
    const choice = document.createElement("select");
    choice.setAttribute("aria-label", "处理结果");
    for (const [v, t] of Object.entries(RESOLUTIONS)) choice.add(new Option(t, v));
    const reason = document.createElement("input");
    reason.setAttribute("aria-label", "处理说明");
    reason.placeholder = "处理说明";
    cell.append(choice, reason, button("处理", run(() => post(path + "resolve",
      { resolution: choice.value, reason: reason.value }))));
  }

  return { load };
})();
