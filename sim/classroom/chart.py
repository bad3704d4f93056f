"""The dashboard's chart widget: an ECharts option drawn in the browser as SVG.

Solara's ``FigureEcharts`` draws on a canvas and initialises ECharts when its script has loaded, even if
the element it was mounted on has gone by then ("Initialize failed: invalid dom", once per chart on every
load of the page). This widget draws with ECharts' SVG renderer, so every text of a chart is an element of
the page whose font size and box a browser test can read; it initialises only on an element still in the
page, follows the size of its container and frees the chart when the widget goes. ECharts is the copy
that solara-assets serves from this machine (no internet).
"""

from __future__ import annotations

import ipyvuetify
import traitlets

ECHARTS_VERSION = "5.4.0"  # the copy solara-assets 1.58 ships

TEMPLATE = """
<template>
  <div ref="echarts" class="lg-chart" :style="height ? ('height: ' + height + '; width: 100%;') : 'width: 100%; height: 100%;'"></div>
</template>
<script>
module.exports = {
  mounted() {
    (async () => {
      const echarts = (await this.importEcharts())[0];
      const el = this.$refs.echarts;
      if (this._isDestroyed || !el || !el.isConnected) return;  // the widget went while ECharts loaded
      this.chart = echarts.init(el, null, { renderer: "svg" });
      this.chart.setOption(this.option, true);
      this.resizeObserver = new ResizeObserver(() => { if (this.chart) this.chart.resize(); });
      this.resizeObserver.observe(el);
    })();
  },
  beforeDestroy() {
    if (this.resizeObserver) this.resizeObserver.disconnect();
    if (this.chart) this.chart.dispose();
    this.chart = null;
  },
  watch: {
    option() {
      if (this.chart) this.chart.setOption(this.option, true);  // notMerge: a new option replaces the old one
    },
  },
  methods: {
    importEcharts() {
      const url = `${this.getCdn()}/echarts@ECHARTS_VERSION/dist/echarts.js`;
      return this.loadRequire().then(() => {
        if (window.jupyterVue) {
          define("vue", [], () => window.jupyterVue.Vue);
        } else {
          define("vue", ["jupyter-vue"], (jupyterVue) => jupyterVue.Vue);
        }
        return new Promise((resolve) => requirejs([url], (...modules) => resolve(modules)));
      });
    },
    loadRequire() {
      if (window.requirejs) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = `${this.getCdn()}/requirejs@2.3.6/require.js`;
        script.onload = resolve;
        script.onerror = reject;
        document.head.appendChild(script);
      });
    },
    getCdn() {
      if (this.cdn) return this.cdn;
      if (window.solara) return window.solara.cdn;
      let base = document.body.dataset.baseUrl || document.baseURI;
      if (!base.endsWith("/")) base += "/";
      return `${base}_solara/cdn`;
    },
  },
};
</script>
""".replace("ECHARTS_VERSION", ECHARTS_VERSION)


class Chart(ipyvuetify.VuetifyTemplate):
    """An ECharts option (plain JSON) drawn as SVG; ``height`` a CSS height, or empty to fill the container."""

    template = traitlets.Unicode(TEMPLATE).tag(sync=True)
    option = traitlets.Any({}).tag(sync=True)
    height = traitlets.Unicode("").tag(sync=True)
    cdn = traitlets.Unicode(None, allow_none=True).tag(sync=True)

    @traitlets.default("cdn")
    def _cdn(self):
        import solara.settings

        return None if solara.settings.assets.proxy else solara.settings.assets.cdn
