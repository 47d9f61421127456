/* 贷后监测: a bank's watched borrowers and the alerts pushed about them (seed 004 #8). */
"use strict";
const Monitoring = (() => {
  const { api, post, fill, button, show, when, $ } = Console;

  async function load() {
    const watches = (await api("/api/watchlist")).watches;
    const trs = fill($("watch-table").tBodies[0], watches, (w) => [
      w.watch_id, w.institution, w.subject_id, w.webhook || "（仅在此查看）", when(w.created_at),
      w.removed_at ? "已停止" : "监测中", ""]);
    trs.forEach((tr, i) => {
      if (watches[i].removed_at) return;
      tr.lastChild.append(button("停止", async () => {
        await post(`/api/watchlist/${encodeURIComponent(watches[i].watch_id)}/remove`);
        await load();
      }));
    });
    const alerts = (await api("/api/alerts")).alerts;
    const rows = fill($("alert-table").tBodies[0], alerts, (a) => [
      when(a.detected_at), a.subject_id, a.class_code, a.kind === "list" ? "名单" : "失信/欠费",
      a.event_date, a.delivered_at ? "已推送 " + when(a.delivered_at)
        : a.attempts ? `未送达（${a.attempts} 次：${a.last_error}）` : "—"]);
    rows.forEach((tr) => tr.classList.add("late"));
  }

  function wire() {
    $("watch-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const w = await post("/api/watchlist", { subject: $("watch-subject").value.trim(),
          webhook: $("watch-webhook").value.trim(), institution: $("watch-institution").value.trim() });
        show("watch-result", `已加入监测（${w.watch_id}）`, false);
        await load();
      } catch (err) { show("watch-result", "登记失败：" + err.message); }
    });
    return load().catch((err) => show("watch-result", "读取失败：" + err.message));
  }

  return { wire };
})();
