/* 对外推送: the systems stored records flow to (省平台, 互联网+监管, 交换目录) with each one's
   ledger — sent, acknowledged, failing, lag, share ratio; admins add and remove targets and
   read a target's latest failed deliveries. */
"use strict";
const Outbound = (() => {
  const { api, post, fill, button, when, $ } = Console;
  const act = Console.acting("outbound-error", "操作失败：");
  const KIND = { http: "接口推送", directory: "前置机目录" };

  let role = "";

  async function load() {
    const targets = (await api("/api/outbound")).targets;
    $("outbound-empty").hidden = targets.length > 0;
    const trs = fill($("outbound-table").tBodies[0], targets, (t) => [
      t.name, KIND[t.kind] || t.kind, t.address, t.format === "province" ? "省平台格式" : "平台格式",
      t.sent, t.acknowledged, t.failing, t.lag, t.oldest_unacked ? when(t.oldest_unacked) : "—",
      `${t.records_acked} / ${t.records_due}` +
        (t.share_ratio === null ? "" : `（${(100 * t.share_ratio).toFixed(1)}%）`), "",
    ]);
    trs.forEach((tr, i) => {
      const t = targets[i];
      tr.classList.toggle("late", t.failing > 0);
      if (role !== "admin") return;
      const name = encodeURIComponent(t.name);
      tr.lastChild.append(button("失败记录", act(() => failures(t.name))),
                          button("停止推送", act(() => post(`/api/outbound/targets/${name}/remove`), load)));
    });
  }

  async function failures(name) {
    const changes = (await api(`/api/outbound/ledger?target=${encodeURIComponent(name)}&state=failed`)).changes;
    $("outbound-failures").hidden = false;
    $("outbound-failures-title").textContent = `${name}：未送达的变更（${changes.length}）`;
    fill($("outbound-failure-table").tBodies[0], changes, (c) => [
      c.class_code, c.record_key, c.action === "withdraw" ? "撤回" : "新增或更新", c.attempts,
      c.last_error, when(c.queued_at)]);
  }

  const SECTION = `
      <h2>对外推送（省级平台全量推送、互联网+监管、大数据交换）</h2>
      <p id="outbound-error" role="alert"></p>
      <table id="outbound-table" class="data">
        <thead><tr><th>目标</th><th>方式</th><th>地址</th><th>格式</th><th>已发送</th><th>已确认</th>
          <th>失败</th><th>待确认</th><th>最早待确认</th><th>已送达记录 / 应送达</th><th></th></tr></thead>
        <tbody></tbody>
      </table>
      <p id="outbound-empty" class="muted" hidden>尚未设置推送目标。</p>
      <div id="outbound-failures" hidden>
        <h3 id="outbound-failures-title"></h3>
        <table id="outbound-failure-table" class="data">
          <thead><tr><th>信息类别</th><th>记录</th><th>操作</th><th>尝试次数</th><th>最近错误</th><th>排队时间</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <details id="outbound-new">
        <summary>新增推送目标</summary>
        <form id="outbound-add">
          <label for="outbound-name">名称（英文小写，如 province）</label><input id="outbound-name" required size="16">
          <label for="outbound-kind">方式</label>
          <select id="outbound-kind"><option value="http">接口推送（HTTP）</option>
            <option value="directory">前置机目录（文件）</option></select>
          <label for="outbound-address">地址（URL 或目录）</label><input id="outbound-address" required size="40">
          <label for="outbound-format">格式</label>
          <select id="outbound-format"><option value="province">省平台格式（中文标签）</option>
            <option value="platform">平台格式</option></select>
          <label for="outbound-classes">信息类别代码（逗号分隔，空为全部）</label><input id="outbound-classes" size="40">
          <label for="outbound-returns">回流数据的提供单位（不回推）</label><input id="outbound-returns" size="24">
          <label for="outbound-districts">按区域（区划代码前缀，逗号分隔）</label><input id="outbound-districts" size="20">
          <label for="outbound-industries">按行业（国民经济行业分类，逗号分隔）</label><input id="outbound-industries" size="20">
          <label for="outbound-public"><input id="outbound-public" type="checkbox"> 仅依法公开的信息（向接入机构批量推送）</label>
          <div><button type="submit">开始推送</button></div>
        </form>
      </details>
`;

  // the section on a page with <section id="outbound">; analysts read, admins also act
  function wire(myRole) {
    role = myRole;
    $("outbound").innerHTML = SECTION;
    $("outbound-new").hidden = role !== "admin";
    const add = act(() => post("/api/outbound/targets", {
      name: $("outbound-name").value.trim(), kind: $("outbound-kind").value,
      address: $("outbound-address").value.trim(), format: $("outbound-format").value,
      classes: $("outbound-classes").value.trim(), returns_as: $("outbound-returns").value.trim(),
      districts: $("outbound-districts").value.trim(), industries: $("outbound-industries").value.trim(),
      public_only: $("outbound-public").checked,
    }), load);
    $("outbound-add").addEventListener("submit", (event) => { event.preventDefault(); return add(); });
    return load();
  }

  return { wire };
})();
