"""The status page's stylesheet: inline, small, light and dark, cards under 40rem."""

CSS = """
:root{--fg:#1f2328;--mut:#59636e;--bg:#fff;--card:#f6f8fa;--line:#d1d9e0;
--ok:#1a7f37;--okb:#dafbe1;--bad:#cf222e;--badb:#ffebe9;--warn:#9a6700;--warnb:#fff8c5;
--blk:#8250df;--blkb:#fbefff;--info:#0969da;--infob:#ddf4ff}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--mut:#9198a1;--bg:#0d1117;
--card:#151b23;--line:#3d444d;--ok:#3fb950;--okb:#12261e;--bad:#f85149;--badb:#2d1214;
--warn:#d29922;--warnb:#272115;--blk:#ab7df8;--blkb:#231a35;--info:#4493f8;--infob:#121d2f}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,
"Segoe UI",Roboto,"Liberation Sans","DejaVu Sans",sans-serif}
main{max-width:72rem;margin:0 auto;padding:1rem}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem}
h1{font-size:1.4rem;margin:0}h1 .inst{color:var(--mut);font-weight:400}
h2{font-size:1.05rem;margin:1.6rem 0 .6rem}
code{font:.9em ui-monospace,"DejaVu Sans Mono",monospace;overflow-wrap:anywhere}
.none{color:var(--mut);font-style:italic}
.badge{padding:.2rem .7rem;border-radius:2rem;font-weight:600}
.badge.ok,.word.ok,.count.in_sync{background:var(--okb);color:var(--ok)}
.badge.bad,.word.bad,.count.drifted{background:var(--badb);color:var(--bad)}
.word.warn,.count.pending{background:var(--warnb);color:var(--warn)}
.count.blocked{background:var(--blkb);color:var(--blk)}.count.held{background:var(--badb);color:var(--bad)}.word.info{background:var(--infob);color:var(--info)}
.word{padding:0 .4rem;border-radius:.3rem;font-weight:600;white-space:nowrap}
.error,.note{border-left:4px solid var(--bad);background:var(--badb);padding:.6rem .8rem;
margin:.8rem 0;border-radius:.3rem;overflow-wrap:anywhere}
.note{border-color:var(--warn);background:var(--warnb)}
dl.health{display:grid;grid-template-columns:repeat(auto-fill,minmax(24rem,1fr));gap:.2rem 2rem;
margin:.8rem 0 0}
dl.health div{display:flex;gap:.6rem;padding:.3rem 0;border-bottom:1px solid var(--line)}
dt{color:var(--mut);min-width:6.5rem}dd{margin:0;overflow-wrap:anywhere;min-width:0}
ul.counts{display:grid;grid-template-columns:repeat(5,1fr);gap:.5rem;list-style:none;padding:0;margin:0}
.count{border-radius:.5rem;padding:.5rem .7rem;display:flex;flex-direction:column}
.count.zero{background:var(--card);color:var(--mut)}
.count b{font-size:1.5rem;line-height:1.2}.count span{font-size:.85rem;font-weight:600}
ul.problems{margin:0;padding-left:1.2rem}ul.problems li{overflow-wrap:anywhere}
table.aliases{width:100%;border-collapse:collapse}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
thead th{color:var(--mut);font-weight:600;font-size:.85rem;width:7rem}
thead th:first-child{width:30%}thead th:last-child{width:auto}
td.name,td.why{overflow-wrap:anywhere}td.why{color:var(--mut)}
td.v{white-space:nowrap;font-variant-numeric:tabular-nums}td.v.diff{font-weight:700}
tr.model th{background:var(--card);padding-top:.5rem}
.mname{font-weight:700;overflow-wrap:anywhere;margin-right:1rem}
.applied{color:var(--mut);font-weight:400;font-size:.85rem}
.state{display:inline-block;padding:0 .5rem;border-radius:1rem;font-weight:600;white-space:nowrap;
border:1px solid currentColor}
.state.in_sync{color:var(--ok);background:var(--okb)}.state.drifted{color:var(--bad);background:var(--badb)}
.state.pending{color:var(--warn);background:var(--warnb)}.state.blocked{color:var(--blk);background:var(--blkb)}
.state.held{color:var(--bad);background:var(--badb)}
tr[data-state=drifted],tr[data-state=held]{--s:var(--bad)}tr[data-state=blocked]{--s:var(--blk)}
tr[data-state=pending]{--s:var(--warn)}
tr.alias td.name{box-shadow:inset 3px 0 var(--s,transparent)}
ol.events{list-style:none;margin:0;padding:0}
ol.events li{padding:.4rem 0;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
.meta{color:var(--mut);font-size:.85rem}ol.events .why{color:var(--mut);margin-top:.1rem}
.empty{color:var(--mut);font-style:italic}
footer{margin:2rem 0 1rem;color:var(--mut);font-size:.8rem}
@media (max-width:40rem){
main{padding:.75rem}ul.counts{grid-template-columns:repeat(2,1fr)}
dl.health{grid-template-columns:1fr}
table.aliases thead{display:none}
table.aliases,table.aliases tbody,tr.model,tr.model th{display:block}
tr.model th{border-radius:.4rem .4rem 0 0;margin-top:.8rem}.mname{display:block}
tr.alias{display:grid;grid-template-columns:minmax(7rem,max-content) 1fr auto;gap:.1rem 1rem;
padding:.45rem .6rem;border-bottom:1px solid var(--line)}
tr.alias td{border:0;padding:0}
tr.alias{box-shadow:inset 3px 0 var(--s,transparent)}
tr.alias td.name{grid-column:1/3;font-weight:600;box-shadow:none;min-width:0}
tr.alias td.st{grid-column:3;grid-row:1;justify-self:end}
tr.alias td.v{grid-row:2}tr.alias td.v::before{color:var(--mut);font-weight:400}
tr.alias td:nth-child(2)::before{content:"desired "}
tr.alias td:nth-child(3)::before{content:"live "}
tr.alias td.why{grid-column:1/4}tr.alias td.why:empty{display:none}
}
"""
